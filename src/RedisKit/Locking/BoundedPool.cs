namespace RedisKit;

/// <summary>
/// A small lock-guarded stack of reusable objects: the engine's release observers and waiters. Renting from an empty
/// pool and returning to a full one are the caller's to handle (create one; drop or dispose it), so the pool itself
/// never allocates after construction.
/// </summary>
internal sealed class BoundedPool<T>(int capacity)
    where T : class
{
    private readonly T?[] _items = new T?[capacity];
    private int _count;

    public bool TryRent(out T item)
    {
        lock (_items)
        {
            if (_count > 0)
            {
                item = _items[--_count]!;
                _items[_count] = null;
                return true;
            }
        }

        item = null!;
        return false;
    }

    public bool TryReturn(T item)
    {
        lock (_items)
        {
            if (_count < _items.Length)
            {
                _items[_count++] = item;
                return true;
            }
        }

        return false;
    }
}
