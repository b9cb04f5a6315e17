namespace RedisKit;

/// <summary>Names of the session store's instruments on the <c>RedisKit</c> meter.</summary>
public static class SessionInstruments
{
    /// <summary>Counter: sessions created.</summary>
    public const string Created = "rediskit.session.created";

    /// <summary>Counter: session loads, tagged <c>result</c> = <c>hit</c>, <c>miss</c>, <c>expired</c> or <c>malformed</c>.</summary>
    public const string Loads = "rediskit.session.loads";

    /// <summary>Counter: sessions destroyed (single, all, or evicted by the cap), tagged <c>reason</c>.</summary>
    public const string Destroyed = "rediskit.session.destroyed";

    /// <summary>Counter: sessions rotated to a new id.</summary>
    public const string Rotated = "rediskit.session.rotated";

    /// <summary>Counter: calls that failed because Redis was unavailable, tagged <c>operation</c>.</summary>
    public const string Unavailable = "rediskit.session.unavailable";

    /// <summary>Histogram (seconds): duration of a load+touch.</summary>
    public const string LoadDuration = "rediskit.session.load.duration";
}
