using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace Holdfast.Infrastructure;

/// <summary>
/// Binds a settings class to its configuration section and checks it when the app starts, so a bad
/// value (<c>Holds:DurationSeconds=0</c>) stops start-up with a message naming the key instead of
/// failing every request that uses it later.
/// </summary>
public static class Settings
{
    /// <summary>
    /// Binds <typeparamref name="T"/> to <paramref name="section"/> (e.g. <c>Payments:Stripe</c>) and
    /// validates it at start-up: the DataAnnotations on its properties (<c>[Range]</c>,
    /// <c>[Required]</c>, …) and, when it is an <see cref="IValidatableObject"/>, its own rules. Each
    /// failure names the configuration key (<c>Holds:DurationSeconds</c>). A list property given in
    /// configuration (<c>Reminders:OffsetsHours:0=24</c>) is the whole list: it replaces the
    /// property's default instead of being appended to it. Returns the builder for further
    /// <c>Validate</c> calls.
    /// </summary>
    public static OptionsBuilder<T> AddSettings<T>(this IServiceCollection services, string section)
        where T : class
    {
        services.AddSingleton<IValidateOptions<T>>(new SettingsValidator<T>(section));
        return services.AddOptions<T>()
            .Configure<IConfiguration>((options, configuration) => ClearConfiguredLists(options, configuration.GetSection(section)))
            .BindConfiguration(section)
            .ValidateOnStart();
    }

    /// <summary>
    /// Sets to null each list property of <paramref name="options"/> that <paramref name="section"/>
    /// has elements for, so the binder, which runs next, builds it from configuration alone. The
    /// binder appends configured elements to a list that already has some (its default): with
    /// <c>OffsetsHours = [48, 3]</c>, <c>Reminders:OffsetsHours:0=24</c> would give
    /// <c>[48, 3, 24]</c>. A list that configuration leaves out keeps its default.
    /// </summary>
    private static void ClearConfiguredLists<T>(T options, IConfigurationSection section)
        where T : class
    {
        foreach (var property in ListProperties<T>.All)
        {
            if (section.GetSection(property.Name).GetChildren().Any())
            {
                property.SetValue(options, null);
            }
        }
    }

    private static class ListProperties<T>
    {
        // Settable collection properties (arrays, List<T>, …); a string is not a list.
        public static readonly PropertyInfo[] All = [.. typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.GetIndexParameters().Length == 0 && p.PropertyType != typeof(string) && typeof(IEnumerable).IsAssignableFrom(p.PropertyType))];
    }
}

/// <summary>
/// Checks one settings class as <see cref="Validator"/> would, but with each property's display name
/// set to its configuration key, so the default messages read "The field Holds:DurationSeconds must
/// be between 1 and 3600." An <see cref="IValidatableObject"/>'s results are prefixed with the keys
/// of the members they name: it writes <c>new ValidationResult("is required when Mode is smtp.",
/// [nameof(Host)])</c> and the operator reads "Email:Host is required when Mode is smtp."
/// </summary>
/// <typeparam name="T">The settings class.</typeparam>
/// <param name="section">Its configuration section.</param>
public sealed class SettingsValidator<T>(string section) : IValidateOptions<T>
    where T : class
{
    private static readonly PropertyInfo[] Properties =
        typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanRead && p.GetIndexParameters().Length == 0).ToArray();

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, T options)
    {
        // Named instances of these classes are not used; the unnamed one is the app's.
        if (name is not null && name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        var failures = new List<string>();
        foreach (var property in Properties)
        {
            var context = new ValidationContext(options) { MemberName = property.Name, DisplayName = Key(property.Name) };
            var results = new List<ValidationResult>();
            if (!Validator.TryValidateProperty(property.GetValue(options), context, results))
            {
                failures.AddRange(results.Select(r => r.ErrorMessage ?? $"{Key(property.Name)} is not valid."));
            }
        }

        // Cross-field rules only when every field is valid on its own, as Validator does.
        if (failures.Count == 0 && options is IValidatableObject validatable)
        {
            foreach (var result in validatable.Validate(new ValidationContext(options)))
            {
                var keys = result.MemberNames.Any() ? string.Join(", ", result.MemberNames.Select(Key)) : section;
                failures.Add($"{keys} {result.ErrorMessage}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private string Key(string member) => $"{section}:{member}";
}

/// <summary>
/// Each element of a collection property must be between <see cref="Minimum"/> and
/// <see cref="Maximum"/> (e.g. every reminder offset 1 to 8760 hours). The message names the
/// property's key and the value found.
/// </summary>
/// <param name="minimum">Smallest allowed element.</param>
/// <param name="maximum">Largest allowed element.</param>
[AttributeUsage(AttributeTargets.Property)]
public sealed class EachInRangeAttribute(int minimum, int maximum) : ValidationAttribute
{
    /// <summary>Smallest allowed element.</summary>
    public int Minimum { get; } = minimum;

    /// <summary>Largest allowed element.</summary>
    public int Maximum { get; } = maximum;

    /// <inheritdoc />
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        foreach (var element in value as IEnumerable ?? Array.Empty<object>())
        {
            if (element is not int number || number < Minimum || number > Maximum)
            {
                return new ValidationResult($"{validationContext.DisplayName} must each be between {Minimum} and {Maximum} (found {element}).");
            }
        }

        return ValidationResult.Success;
    }
}
