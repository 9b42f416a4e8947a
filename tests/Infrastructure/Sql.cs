using Npgsql;

namespace Holdfast.Tests.Infrastructure;

/// <summary>Reading one value in SQL, for arranging and asserting.</summary>
public static class Sql
{
    /// <summary>The first column of the first row of <paramref name="sql"/>, cast to <typeparamref name="T"/>.</summary>
    public static async Task<T> ScalarAsync<T>(this NpgsqlDataSource db, string sql)
    {
        await using var command = db.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
