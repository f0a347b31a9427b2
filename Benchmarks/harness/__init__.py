"""Benchmark harness: intercept-proxy beside mitmproxy and a direct connection, same origin, same clients."""
