using Microsoft.AspNetCore.Diagnostics;
using StackExchange.Redis;

namespace RedisKit.Samples.Shop.Infrastructure;

/// <summary>
/// Maps exceptions to problem+json: a malformed request is the client's 4xx, an unreachable Redis or
/// database is 503 (retry later), anything else is logged and answered 500 without details.
/// </summary>
internal sealed class ShopExceptionHandler(IProblemDetailsService problems, ILogger<ShopExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var request = httpContext.Request;
        (int status, string title) = exception switch
        {
            BadHttpRequestException bad => (bad.StatusCode, bad.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Request body too large" : "Bad request"),
            System.Text.Json.JsonException => (StatusCodes.Status400BadRequest, "Malformed JSON"),
            RedisException or RedisTimeoutException => (StatusCodes.Status503ServiceUnavailable, "Redis unavailable"),
            TimeoutException => (StatusCodes.Status503ServiceUnavailable, "Dependency timed out"),
            // SQLITE_BUSY / SQLITE_LOCKED: another writer holds the database (SQLite has one writer at a time),
            // transient like a timeout. Seen under the reliability runs' write load (docs/reliability.md).
            Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 5 or 6 } => (StatusCodes.Status503ServiceUnavailable, "Database busy"),
            _ => (StatusCodes.Status500InternalServerError, "Unexpected error"),
        };

        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            ShopLog.RedisUnavailable(logger, request.Method, request.Path, exception);
            httpContext.Response.Headers.RetryAfter = "5";
        }
        else if (status >= 500)
        {
            ShopLog.Unhandled(logger, request.Method, request.Path, exception);
        }

        httpContext.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = { Status = status, Title = title },
        });
    }
}
