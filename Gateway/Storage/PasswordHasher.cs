using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;

namespace Gateway.Storage;

/// <summary>
/// Argon2id password hashing (RFC 9106) from BouncyCastle, stored in the PHC string format
/// <c>$argon2id$v=19$m=19456,t=2,p=1$salt$hash</c>. Defaults follow OWASP's minimum for Argon2id.
/// </summary>
public static class PasswordHasher
{
    /// <summary>The hash of a random password nobody knows: an account that exists on a host where nobody logs in
    /// (a split courier's Background keeps its users without their passwords).</summary>
    public static string HashOfUnknownPassword() =>
        Hash(Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));

    public const int DefaultMemoryKiB = 19456;
    public const int DefaultIterations = 2;
    public const int DefaultParallelism = 1;
    const int SaltLength = 16;
    const int HashLength = 32;

    public static string Hash(string password, int memoryKiB = DefaultMemoryKiB, int iterations = DefaultIterations, int parallelism = DefaultParallelism)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltLength);
        var hash = Derive(password, salt, memoryKiB, iterations, parallelism, HashLength);
        return $"$argon2id$v=19$m={memoryKiB},t={iterations},p={parallelism}${B64(salt)}${B64(hash)}";
    }

    /// <summary>Checks a password against a stored hash, comparing in constant time.</summary>
    public static bool Verify(string password, string encoded)
    {
        var parts = encoded.Split('$');
        if (parts.Length != 6 || parts[1] != "argon2id" || parts[2] != "v=19") return false;
        int m = 0, t = 0, p = 0;
        foreach (var kv in parts[3].Split(','))
        {
            var pair = kv.Split('=');
            if (pair.Length != 2 || !int.TryParse(pair[1], out var v)) return false;
            switch (pair[0]) { case "m": m = v; break; case "t": t = v; break; case "p": p = v; break; }
        }
        if (m is < 8 or > 4 * 1024 * 1024 || t is < 1 or > 100 || p is < 1 or > 64) return false;
        byte[] salt, expected;
        try { salt = FromB64(parts[4]); expected = FromB64(parts[5]); }
        catch (FormatException) { return false; }
        var actual = Derive(password, salt, m, t, p, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    static byte[] Derive(string password, byte[] salt, int memoryKiB, int iterations, int parallelism, int length)
    {
        var parameters = new Argon2Parameters.Builder(Argon2Parameters.Argon2id)
            .WithVersion(Argon2Parameters.Version13)
            .WithSalt(salt)
            .WithMemoryAsKB(memoryKiB)
            .WithIterations(iterations)
            .WithParallelism(parallelism)
            .Build();
        var generator = new Argon2BytesGenerator();
        generator.Init(parameters);
        var output = new byte[length];
        var passwordBytes = Encoding.UTF8.GetBytes(password);
        try { generator.GenerateBytes(passwordBytes, output); }
        finally { CryptographicOperations.ZeroMemory(passwordBytes); }
        return output;
    }

    static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=');

    static byte[] FromB64(string s) => Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
}
