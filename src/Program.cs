using Holdfast;

// `migrate`, `seed` and `demo-client` are commands a person runs; anything else serves the API.
return await HoldfastCommands.RunAsync(args);

/// <summary>The entry point; public so <c>WebApplicationFactory&lt;Program&gt;</c> can host the app in tests.</summary>
public partial class Program;
