using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>Reading one value in SQL, for arranging and asserting: the one place tests do it.</summary>
public static class Sql
{
    /// <summary>
    /// The first column of the first row of <paramref name="sql"/>, cast to <typeparamref name="T"/>;
    /// <paramref name="args"/> bind to <c>$1</c>, <c>$2</c>, … in order. No row or SQL NULL gives
    /// null for a reference or nullable <typeparamref name="T"/> and fails for any other, so a missing
    /// count or sum never passes as 0.
    /// </summary>
    public static async Task<T> ScalarAsync<T>(this NpgsqlDataSource db, string sql, params object[] args)
    {
        await using var command = db.CreateCommand(sql);
        foreach (var arg in args)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = arg });
        }

        var value = await command.ExecuteScalarAsync();
        if (value is null or DBNull)
        {
            return default(T) is null ? default! : throw new InvalidOperationException($"No value, but a {typeof(T).Name} was expected: {sql}");
        }

        return (T)value;
    }
}
