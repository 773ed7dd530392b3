using System.Runtime.InteropServices;

namespace KbSync.KbWorker.Agents;

/// <summary>What a directory entry is, as <c>lstat</c> sees it: never following a symlink, never opening anything.</summary>
public enum FileKind
{
    File,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharacterDevice,
    BlockDevice,
    Unknown,
}

/// <summary>An entry's kind, size and number of hard links, read without opening it.</summary>
public sealed record FileMetadata(FileKind Kind, long Length, uint Links)
{
    /// <summary>
    /// <c>statx(AT_SYMLINK_NOFOLLOW)</c> on <paramref name="path"/>. .NET's own metadata cannot tell a FIFO,
    /// a socket or a device from an empty file (all read as <see cref="FileAttributes.Normal"/>), and opening
    /// a FIFO to find out blocks until someone writes to it. <c>statx</c> rather than <c>lstat</c> because its
    /// structure is the same on every Linux architecture. Returns null when nothing is there.
    /// </summary>
    public static FileMetadata? Of(string path)
    {
        if (Statx(AtCurrentFolder, path, AtSymlinkNoFollow, StatxType | StatxSize | StatxLinks, out var status) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            return error == NoSuchEntry
                ? null
                : throw new IOException($"statx failed on {path}: {Marshal.GetPInvokeErrorMessage(error)}");
        }

        var kind = (status.Mode & TypeMask) switch
        {
            0x8000 => FileKind.File,
            0x4000 => FileKind.Directory,
            0xA000 => FileKind.Symlink,
            0x1000 => FileKind.Fifo,
            0xC000 => FileKind.Socket,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            _ => FileKind.Unknown,
        };
        return new FileMetadata(kind, (long)status.Size, status.Links);
    }

    /// <summary>How a refusal names the kind: "a FIFO", "a socket"…</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.File => "a file",
        FileKind.Directory => "a folder",
        FileKind.Symlink => "a symlink",
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.Socket => "a socket",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        _ => "a special file",
    };

    private const int AtCurrentFolder = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const uint StatxLinks = 0x4;
    private const uint StatxSize = 0x200;
    private const int TypeMask = 0xF000;
    private const int NoSuchEntry = 2;

    /// <summary>The start of <c>struct statx</c> (linux/stat.h); the kernel writes all 256 bytes.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuffer
    {
        [FieldOffset(16)] public uint Links;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(40)] public ulong Size;
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int directory, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, out StatxBuffer buffer);
}
