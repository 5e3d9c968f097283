using System.Security.Cryptography;
using Gateway.Platform;

namespace Gateway.Crypto;

/// <summary>The master key is missing, unreadable, exposed, or does not open the stores it protects.</summary>
public sealed class MasterKeyException(string message) : Exception(message);

/// <summary>
/// The 256-bit master key that protects every secret at rest. It comes from the <c>GATEWAY_MASTER_KEY</c>
/// environment variable (base64 of 32 octets) or, failing that, from <c>keys/master.key</c> in the data directory,
/// which is created (mode 0600) on first start and refused if others can read it. Purpose keys are derived
/// from it with HKDF-SHA256, so no two stores share a key.
/// </summary>
public sealed class MasterKey
{
    public const string EnvironmentVariable = "GATEWAY_MASTER_KEY";
    readonly byte[] _key;

    /// <summary>Where the key came from, for messages ("GATEWAY_MASTER_KEY" or the file path).</summary>
    public string Source { get; }

    MasterKey(byte[] key, string source)
    {
        _key = key;
        Source = source;
    }

    public static MasterKey FromBytes(byte[] key, string source = "memory")
    {
        if (key.Length != 32) throw new MasterKeyException($"{source}: a master key has 32 octets, this one {key.Length}");
        return new MasterKey(key.ToArray(), source);
    }

    public static MasterKey Load(DataDirectory data)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            byte[] key;
            try { key = Convert.FromBase64String(fromEnvironment.Trim()); }
            catch (FormatException) { throw new MasterKeyException($"{EnvironmentVariable} is not base64; fix: set it to the base64 of 32 random octets (e.g. openssl rand -base64 32), or unset it to use {data.MasterKeyPath}."); }
            if (key.Length != 32) throw new MasterKeyException($"{EnvironmentVariable} holds {key.Length} octets, not 32; fix: openssl rand -base64 32.");
            return new MasterKey(key, EnvironmentVariable);
        }

        var path = data.MasterKeyPath;
        if (!File.Exists(path))
        {
            DurableFile.CreatePrivateDirectory(Path.GetDirectoryName(path)!);
            var fresh = RandomNumberGenerator.GetBytes(32);
            var temp = path + ".tmp";
            File.WriteAllBytes(temp, fresh);
            DurableFile.MakePrivate(temp);
            File.Move(temp, path);
            DurableFile.SyncDirectory(Path.GetDirectoryName(path)!);
            return new MasterKey(fresh, path);
        }
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
                throw new MasterKeyException($"{path} can be read or written by other users (mode {Convert.ToString((int)mode, 8)}); fix: chmod 600 {path}.");
        }
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != 32) throw new MasterKeyException($"{path} holds {bytes.Length} octets, not 32: it is damaged; fix: restore it from backup (without it the stored keys cannot be opened).");
        return new MasterKey(bytes, path);
    }

    /// <summary>A key for one purpose (e.g. "keystore", "tls/self-signed.pfx"), derived with HKDF-SHA256.</summary>
    public byte[] Derive(string purpose, int length = 32) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _key, length, info: System.Text.Encoding.UTF8.GetBytes("gateway/" + purpose));
}
