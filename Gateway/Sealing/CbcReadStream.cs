using System.Security.Cryptography;

namespace Gateway.Sealing;

/// <summary>
/// AES-CBC ciphertext at a fixed place in a file, read as a seekable stream of plaintext: a block decrypts with the
/// block before it as IV, so any offset can be reached without decrypting what lies before it. The ciphertext is
/// read in windows of <see cref="CmsBlob.DigestWindow"/> octets, each checked against its digest before it is
/// decrypted, so a changed, cut or moved window throws instead of being read. The last window is read first: its
/// padding gives the length.
/// </summary>
public sealed class CbcReadStream : ReadOnlySeekableStream
{
    const int Block = 16;
    const int Window = CmsBlob.DigestWindow;
    readonly Stream _file;
    readonly Aes _aes;
    readonly byte[] _iv;
    readonly long _offset;
    readonly long _cipherLength;
    readonly byte[] _digests;
    readonly byte[] _cipher;
    readonly byte[] _plain;
    long _windowStart = -1;
    int _windowLength;

    public CbcReadStream(Stream file, byte[] key, byte[] iv, long offset, long cipherLength, byte[] digests)
    {
        _file = file;
        _aes = Aes.Create();
        _aes.Key = key;
        _iv = iv;
        _offset = offset;
        _cipherLength = cipherLength;
        _digests = digests;
        // Buffers as large as the message when it is small (most are): a FETCH of many messages allocates little.
        var window = (int)Math.Min(Window, cipherLength);
        _cipher = System.Buffers.ArrayPool<byte>.Shared.Rent(window);
        _plain = System.Buffers.ArrayPool<byte>.Shared.Rent(window);
        LoadWindow((cipherLength - 1) / Window * Window);
        int pad = _plain[_windowLength - 1];
        if (pad is < 1 or > Block) throw new CryptographicException("the stored message does not open with its key (bad padding)");
        for (var i = _windowLength - pad; i < _windowLength; i++)
            if (_plain[i] != pad) throw new CryptographicException("the stored message does not open with its key (bad padding)");
        Length = cipherLength - pad;
    }

    /// <summary>Reads, checks and decrypts the window of ciphertext that starts at <paramref name="start"/>.</summary>
    void LoadWindow(long start)
    {
        _windowStart = -1;
        var length = (int)Math.Min(Window, _cipherLength - start);
        Span<byte> previous = stackalloc byte[Block];
        if (start == 0) _iv.CopyTo(previous);
        else
        {
            _file.Position = _offset + start - Block;
            _file.ReadExactly(previous);
        }
        var cipher = _cipher.AsSpan(0, length);
        _file.Position = _offset + start;
        _file.ReadExactly(cipher);
        Span<byte> digest = stackalloc byte[CmsBlob.DigestSize];
        var window = start / Window;
        CmsBlob.WindowDigest(_iv, window, previous, cipher, digest);
        if (!CryptographicOperations.FixedTimeEquals(digest, _digests.AsSpan((int)window * CmsBlob.DigestSize, CmsBlob.DigestSize)))
            throw new CryptographicException($"the stored message is damaged (window {window} does not match its digest)");
        _aes.DecryptCbc(cipher, previous, _plain.AsSpan(0, length), PaddingMode.None);
        _windowStart = start;
        _windowLength = length;
    }

    public override long Length { get; }

    protected override int ReadAt(long position, Span<byte> buffer)
    {
        if (_windowStart < 0 || position < _windowStart || position >= _windowStart + _windowLength)
            LoadWindow(position / Window * Window);
        var offset = (int)(position - _windowStart);
        var n = Math.Min(buffer.Length, _windowLength - offset);
        _plain.AsSpan(offset, n).CopyTo(buffer);
        return n;
    }

    bool _disposed;

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _file.Dispose();
            _aes.Dispose();
            CryptographicOperations.ZeroMemory(_plain);
            System.Buffers.ArrayPool<byte>.Shared.Return(_plain);
            System.Buffers.ArrayPool<byte>.Shared.Return(_cipher);
        }
        base.Dispose(disposing);
    }
}
