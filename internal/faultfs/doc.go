// Package faultfs is the lab's FUSE layer for disk faults: a passthrough
// file system over a backing directory, served by goroutines of the lab's
// own process, that a node of the system under test uses as its data
// directory.
//
// Faults while the node runs, on a mounted [FS]:
//   - [FS.PowerLoss] drops every change not made durable, as losing power
//     would;
//   - [FS.SetErrors] fails a fraction of writes, fsyncs or reads with EIO;
//   - [FS.SetFsyncDelay] makes fsync slow;
//   - [FS.Clear] ends the last two;
//   - [FS.Sync] makes everything so far durable, as the kernel's
//     write-back of dirty pages would, so that a later power loss drops
//     only what came after.
//
// Faults while the node is stopped are plain functions over the backing
// directory: [Corrupt] flips bits, [Truncate] cuts files, [Snapshot] and
// [Saved.Restore] roll files back to older content. Each returns the
// changes it made, byte by byte.
//
// # Passthrough
//
// With no fault active, every operation reaches the backing directory as
// the node made it: data, fsync (on the backing file), modes, owners,
// times, rename (with its flags), link, symlink, mknod, truncate,
// fallocate, copy_file_range, xattrs, O_TMPFILE. The kernel is told to
// cache no names or attributes (zero timeouts), so that a power loss or an
// offline fault is seen at once, and FUSE passthrough is off, so that
// every write passes through the tracking. The node can notice the speed,
// st_nlink of an unlinked file it still holds (1, not 0: see the trash
// below), and nothing else this package knows of.
//
// # The durability rule
//
// Data. A file's durable content is what it held at its last fsync or
// fdatasync through the mount, or at mount time, or nothing for a file
// made since. PowerLoss puts every file back to its durable content and
// size: all the changes since (writes, truncations, fallocates) go
// together, none survives in part.
//
// Names. Changes to names (create, mkdir, mknod, symlink, link, unlink,
// rmdir, rename, exchange) go into one ordered journal. A change becomes
// durable when a directory it changed is fsynced (for a rename, either
// directory), or, unless [Options.StrictDirSync], when the file it named
// (the file it made, linked or renamed) is fsynced, as on ext4 and xfs. And
// like their journals, this one commits in order: a change made durable
// makes every earlier change durable too. PowerLoss undoes, newest first,
// the changes not durable. So:
//   - a file made and never fsynced, in a directory never fsynced since
//     (and with nothing later made durable), disappears;
//   - a file made whose directory was fsynced, but not its data, stays,
//     empty (the "zero-length file" of ext4);
//   - write tmp, fsync tmp, rename tmp over cfg, no fsync of the directory:
//     cfg has its old content back, and tmp is there again;
//   - an unlink or rmdir not made durable is undone: the file is back with
//     its content (as of its last fsync), the directory back with its mode
//     and owner.
//
// # Cost
//
// A write takes a lock, and the first time it overwrites bytes that were
// durable it reads them from the backing file and keeps them; bytes past
// the durable size (appends) cost nothing, and runs of zeros (preallocated
// space) are kept as a length. So the memory held is at most the durable
// bytes overwritten since their file's last fsync, up to
// [Options.MaxMemory]; past that they go to an unnamed file on the backing
// file system, freed when the lab's process ends. A truncation keeps every
// durable byte it cuts. An unlinked file stays in a hidden directory of the
// backing root, ".faultfs-trash", until its unlink is durable (the disk
// space stays taken until then), and a rename over a file keeps a hard
// link to the replaced one there likewise. Each file open for writing
// costs one more file descriptor, of the lab's. The log of name changes
// not yet durable holds at most 65536 of them: past that, the older half
// is taken as durable, as a journaling file system's periodic commit would
// have made it. Names and attributes are looked up again on every access.
//
// # What it cannot do
//
//   - Metadata is not rolled back: chmod, chown, utimes and xattrs stay as
//     they were at the power loss, and restored files get new mtimes.
//   - No torn or reordered persistence: a file's changes since its fsync
//     are all dropped together, never some of them or part of a write.
//   - Writes through a shared writable mmap reach the file system only when
//     the kernel writes the pages back. PowerLoss asks the kernel to write
//     them back first (so they are dropped with the rest), but a node that
//     runs on during a power loss can dirty more. Stop the node first.
//   - O_DIRECT writes are tracked like any other (the kernel sends them as
//     writes), and durable only by fsync, like the rest.
//   - Changes made to the backing directory behind the mount's back are
//     neither tracked nor undone, and can make undoing names fail (the
//     report and the error say which). A mount inside the backing directory
//     is another file system: an unlink there cannot be undone.
//   - An injected fsync error changes nothing on disk: the file's changes
//     stay readable and stay un-durable (a later power loss drops them),
//     where Linux, after a real write-back error, may have dropped the
//     dirty pages already.
//   - File locks (flock, fcntl) are the kernel's, local to the mount: fine
//     for one machine, which is all the lab needs.
//
// # Mounts
//
// As root, Mount calls mount(2) itself and needs no package; otherwise it
// needs a setuid-root fusermount3 or fusermount (Debian's fuse3). Every mount is of type
// "fuse.lab-faultfs" with source "lab-faultfs:<run id>", so that
// [Leftovers] finds the lab's own mounts (and only them) after a kill -9,
// and [UnmountStale] removes one. [Probe] says whether FUSE works here, for
// lab doctor.
package faultfs
