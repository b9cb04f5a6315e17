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
    /// Signing in over an existing session always yields a new session id (the old one is destroyed). The
    /// defence hooks <c>Events.OnSigningIn</c> and wraps <c>CookieManager</c>; with a DI-resolved
    /// <c>EventsType</c>, call the base <c>SigningIn</c> or set the <c>RedisKit.Sessions.SigningIn</c> item yourself.
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
        var authentication = services.AddAuthentication(scheme).AddCookie(scheme, configureCookie ?? (static _ => { }));

        // After the framework's post-configure (which defaults CookieManager and TicketDataFormat): mark
        // sign-ins so the ticket store replaces the session instead of renewing it, and let the cookie
        // manager write the replacement id (fixation defence; see RedisTicketStore.RenewAsync).
        services.AddOptions<CookieAuthenticationOptions>(scheme).PostConfigure(static options =>
        {
            if (options.CookieManager is not SessionCookieManager)
            {
                options.CookieManager = new SessionCookieManager(options.CookieManager, options);
            }

            var signingIn = options.Events.OnSigningIn;
            options.Events.OnSigningIn = context =>
            {
                context.HttpContext.Items[RedisTicketStore.SigningInItem] = true;
                return signingIn(context);
            };
        });
        return authentication;
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
