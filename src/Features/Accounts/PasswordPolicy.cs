namespace Holdfast.Features.Accounts;

/// <summary>
/// What a password must be, after NIST SP 800-63B §5.1.1.2: long enough, not absurdly long, and
/// not one of the passwords attackers try first; no composition rules (they make passwords worse).
/// </summary>
public static class PasswordPolicy
{
    /// <summary>Shortest accepted, in characters.</summary>
    public const int MinimumLength = 10;

    /// <summary>Longest accepted, in characters (PBKDF2 input stays bounded).</summary>
    public const int MaximumLength = 256;

    // The most common passwords of 10+ characters in public breach corpora; a breached-password
    // service would do better, but none is reachable from here.
    private static readonly HashSet<string> Common = new(StringComparer.OrdinalIgnoreCase)
    {
        "1234567890", "0123456789", "123456789a", "1q2w3e4r5t", "qwertyuiop", "password1!", "password12", "password123",
        "1234567891", "abcdefghij", "iloveyou12", "qwerty1234", "1qaz2wsx3edc", "zaq12wsxcde3", "passw0rd12", "letmein123",
        "welcome123", "administrator", "qwertyuiop123", "asdfghjkl1", "1111111111", "0000000000", "aaaaaaaaaa", "changeme123",
    };

    /// <summary>Null when <paramref name="password"/> is acceptable for <paramref name="email"/>; otherwise the reason, for the user.</summary>
    public static string? Check(string? password, string? email)
    {
        if (password is null || password.Length < MinimumLength || password.Length > MaximumLength)
        {
            return $"Must be {MinimumLength} to {MaximumLength} characters long; a phrase of a few words is easiest to remember.";
        }

        if (password.Distinct().Count() < 4 || Common.Contains(password))
        {
            return "Too easy to guess: it is one of the most common passwords or repeats a few characters. Choose another.";
        }

        var localPart = email?.Split('@')[0];
        if (localPart is { Length: >= 4 } && password.Contains(localPart, StringComparison.OrdinalIgnoreCase))
        {
            return "Must not contain your email address.";
        }

        return null;
    }
}
