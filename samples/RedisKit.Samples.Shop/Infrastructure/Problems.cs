namespace RedisKit.Samples.Shop.Infrastructure;

/// <summary>Small helpers for problem+json answers and input checks.</summary>
public static class Problems
{
    public static IResult Validation(string parameter, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [parameter] = [message] });

    public static IResult Validation(Dictionary<string, string[]> errors) => TypedResults.ValidationProblem(errors);

    public static IResult NotFound(string detail) =>
        TypedResults.Problem(detail: detail, statusCode: StatusCodes.Status404NotFound);

    public static IResult Conflict(string detail) =>
        TypedResults.Problem(detail: detail, statusCode: StatusCodes.Status409Conflict);

    /// <summary>Collects field errors; empty means valid.</summary>
    public sealed class Errors
    {
        private readonly Dictionary<string, string[]> _errors = [];

        public bool Any => _errors.Count > 0;

        public Errors Require(bool condition, string field, string message)
        {
            if (!condition)
            {
                _errors[field] = [message];
            }

            return this;
        }

        public IResult ToResult() => TypedResults.ValidationProblem(_errors);
    }

    /// <summary>Parses an optional integer query parameter within bounds, naming the parameter on failure.</summary>
    public static bool TryBound(string? raw, string name, int defaultValue, int min, int max, Errors errors, out int value)
    {
        value = defaultValue;
        if (string.IsNullOrEmpty(raw))
        {
            return true;
        }

        if (!int.TryParse(raw, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value) || value < min || value > max)
        {
            errors.Require(false, name, $"'{name}' must be an integer from {min} to {max}.");
            return false;
        }

        return true;
    }
}
