using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RedisKit;
using RedisKit.AspNetCore;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the ASP.NET Core side of RedisKit sessions.</summary>
public static class SessionAspNetCoreBuilderExtensions
{
    /// <summary>
    /// Token mode: registers the session store (<c>AddSessions</c>) and the HTTP options used by
    /// <c>RequireSession()</c> (header names, Retry-After).
    /// </summary>
    public static RedisKitBuilder AddSessionTokens(this RedisKitBuilder builder, Action<SessionHttpOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddSessions();
        AddHttpOptions(builder.Services, configure);
        return builder;
    }

    /// <summary>
    /// Cookie mode: registers the session store, <see cref="RedisTicketStore"/>, and cookie authentication
    /// under <paramref name="scheme"/> with the ticket store as its <c>SessionStore</c> (the cookie carries
    /// only the session id). Cookie defaults: HttpOnly, Secure outside Development (SameAsRequest in
    /// Development), SameSite=Lax; <paramref name="configureCookie"/> runs after them and may change them.
    /// </summary>
    public static AuthenticationBuilder AddSessionCookies(
        this RedisKitBuilder builder,
        string scheme = CookieAuthenticationDefaults.AuthenticationScheme,
        Action<CookieAuthenticationOptions>? configureCookie = null,
        Action<SessionHttpOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddSessions();
        var services = builder.Services;
        AddHttpOptions(services, configure);
        services.TryAddSingleton<RedisTicketStore>();
        services.AddOptions<CookieAuthenticationOptions>(scheme)
            .Configure<RedisTicketStore, IServiceProvider>(static (options, store, provider) =>
            {
                options.SessionStore = store;
                options.Cookie.HttpOnly = true;
                options.Cookie.SameSite = SameSiteMode.Lax;
                var development = provider.GetService<IHostEnvironment>()?.IsDevelopment() == true;
                options.Cookie.SecurePolicy = development ? CookieSecurePolicy.SameAsRequest : CookieSecurePolicy.Always;
            });
        return services.AddAuthentication(scheme).AddCookie(scheme, configureCookie ?? (static _ => { }));
    }

    /// <summary>
    /// Registers <see cref="IDistributedCache"/> as <see cref="RedisKitDistributedCache"/> on the shared
    /// connection (replacing any earlier registration), so <c>services.AddSession()</c> + <c>app.UseSession()</c>
    /// store ASP.NET Core sessions in the same Redis.
    /// </summary>
    public static RedisKitBuilder AddDistributedCache(this RedisKitBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.Replace(ServiceDescriptor.Singleton<IDistributedCache, RedisKitDistributedCache>());
        builder.RequireFeatures(RedisFeatures.AtomicLua, "distributed cache");
        return builder;
    }

    private static void AddHttpOptions(IServiceCollection services, Action<SessionHttpOptions>? configure)
    {
        if (!services.Any(d => d.ServiceType == typeof(IValidateOptions<SessionHttpOptions>) && d.ImplementationType == typeof(SessionHttpOptionsValidator)))
        {
            services.AddOptions<SessionHttpOptions>().ValidateOnStart();
            services.AddSingleton<IValidateOptions<SessionHttpOptions>, SessionHttpOptionsValidator>();
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }
    }
}
