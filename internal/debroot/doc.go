// Package debroot builds a node's root file system from Debian packages,
// for systems that are not one static binary (Redis, say): it downloads
// the packages and the libraries they depend on, unpacks them, and keeps
// only the named binaries, their ELF interpreter and the shared libraries
// the binaries need, as their ELF headers say. The result is cached by
// content (the exact package versions, binaries and kept paths), so a
// second run reuses it without a download.
//
// It uses apt-get, apt-cache and dpkg-deb of the lab's host, which is
// Debian; the packages come from the host's configured mirror.
package debroot
