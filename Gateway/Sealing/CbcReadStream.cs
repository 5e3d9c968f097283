using System.Security.Cryptography;

namespace Gateway.Sealing;

/// <summary>
/// AES-CBC ciphertext at a fixed place in a file, read as a seekable stream of plaintext: a block decrypts with the
/// block before it as IV, so any offset can be reached without decrypting what lies before it. The padding of the
/// last block gives the length; a wrong key or damaged end shows as bad padding and throws.
/// </summary>
public sealed class CbcReadStream : ReadOnlySeekableStream
{
    const int Block = 16;
    const int Window = 64 * 1024;
    readonly Stream _file;
    readonly Aes _aes;
    readonly byte[] _iv;
    readonly long _offset;
    readonly long _cipherLength;
    readonly byte[] _cipher;
    readonly byte[] _plain;
    long _windowStart = -1;
    int _windowLength;

    public CbcReadStream(Stream file, byte[] key, byte[] iv, long offset, long cipherLength)
    {
        _file = file;
        _aes = Aes.Create();
        _aes.Key = key;
        _iv = iv;
        _offset = offset;
        _cipherLength = cipherLength;
        // Buffers as large as the message when it is small (most are): a FETCH of many messages allocates little.
        var window = (int)Math.Min(Window, cipherLength);
        _cipher = System.Buffers.ArrayPool<byte>.Shared.Rent(window);
        _plain = System.Buffers.ArrayPool<byte>.Shared.Rent(window);
        var lastStart = cipherLength - Block;
        Span<byte> last = stackalloc byte[Block];
        DecryptBlocks(lastStart, Block, last);
        int pad = last[Block - 1];
        if (pad is < 1 or > Block) throw new CryptographicException("the stored message does not open with its key (bad padding)");
        for (var i = Block - pad; i < Block; i++)
            if (last[i] != pad) throw new CryptographicException("the stored message does not open with its key (bad padding)");
        Length = cipherLength - pad;
    }

    void DecryptBlocks(long start, int count, Span<byte> plaintext)
    {
        Span<byte> iv = stackalloc byte[Block];
        var cipher = _cipher.AsSpan(0, count);
        if (start == 0) _iv.CopyTo(iv);
        else
        {
            _file.Position = _offset + start - Block;
            _file.ReadExactly(iv);
        }
        _file.Position = _offset + start;
        _file.ReadExactly(cipher);
        _aes.DecryptCbc(cipher, iv, plaintext, PaddingMode.None);
    }

    public override long Length { get; }

    protected override int ReadAt(long position, Span<byte> buffer)
    {
        if (_windowStart < 0 || position < _windowStart || position >= _windowStart + _windowLength)
        {
            _windowStart = position / Window * Window;
            _windowLength = (int)Math.Min(Math.Min(Window, _plain.Length), _cipherLength - _windowStart);
            DecryptBlocks(_windowStart, _windowLength, _plain.AsSpan(0, _windowLength));
        }
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
