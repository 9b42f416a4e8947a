using System.Text.Json.Nodes;
using Npgsql;

/// <summary>
/// Steps the fault runs (<see cref="Faults"/>, <see cref="HaFaults"/>) share: customers registered
/// through the API while the service may still be settling, and the on-sale flights to load.
/// </summary>
internal static class FaultLoad
{
    /// <summary>
    /// Registers <paramref name="count"/> customers (<c>{prefix}-{run}-{i}@holdfast.example</c>)
    /// through <paramref name="register"/> (the run's own request function, given the customer's
    /// index and the body), retrying each until 201, and returns their access tokens.
    /// </summary>
    /// <exception cref="InvalidOperationException">A registration kept failing (over 20 attempts).</exception>
    public static async Task<string[]> RegisterAsync(int count, string prefix, Func<int, object, Task<(int Status, JsonObject? Body)>> register)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var tokens = new string[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), async (i, _) =>
        {
            for (var attempt = 0; tokens[i] is null; attempt++)
            {
                var (status, body) = await register(i, new { email = $"{prefix}-{run}-{i}@holdfast.example", password = "fault run password 123" });
                if (status == 201)
                {
                    tokens[i] = body!["access_token"]!.GetValue<string>();
                }
                else if (attempt > 20)
                {
                    throw new InvalidOperationException($"register answered {status}");
                }
            }
        });
        return tokens;
    }

    /// <summary>Up to <paramref name="count"/> random on-sale flights departing more than 3 hours from now.</summary>
    public static async Task<List<long>> FlightsAsync(NpgsqlDataSource db, int count)
    {
        var shows = new List<long>();
        await using var command = db.CreateCommand(
            "select s.show_id from show s join event e using (event_id) where e.kind = 'flight' and s.status = 'on_sale' and s.starts_at > now() + interval '3 hours' order by random() limit @count");
        command.Parameters.AddWithValue("count", count);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            shows.Add(reader.GetInt64(0));
        }

        return shows;
    }
}
