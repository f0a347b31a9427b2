// The one place a build for another system stops, before the errors that would follow: the proxy
// calls Glibc directly (sockets, read/write/send, signals, fstat, /proc), see Package.swift.
#if !os(Linux)
#error("intercept-proxy builds on Linux only: it calls Glibc directly (sockets, signals, /proc). Build it on Linux (Debian or Ubuntu with Swift 6), or in a Linux container.")
#endif
