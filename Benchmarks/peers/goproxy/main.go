// goproxy-bench: Debian's github.com/elazarl/goproxy as an intercepting CONNECT proxy for the benchmark.
//
//	goproxy-bench -listen 127.0.0.1:PORT -ca-cert ca.pem -ca-key ca.key -origin 127.0.0.1:PORT -upstream-ca origin-ca.pem
//
// Every CONNECT is intercepted (MitmConnect) with a leaf signed by -ca-cert, cached per host (goproxy
// itself forges a new RSA-2048 leaf for every tunnel); every upstream connection goes to -origin and is
// verified against -upstream-ca. Built with GO111MODULE=off GOPATH=/usr/share/gocode.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/elazarl/goproxy"
)

// leafCache wraps goproxy's own forging with a per-host cache, as the other contenders have.
type leafCache struct {
	mu     sync.Mutex
	forge  func(host string, ctx *goproxy.ProxyCtx) (*tls.Config, error)
	byHost map[string]*tls.Config
}

func (c *leafCache) config(host string, ctx *goproxy.ProxyCtx) (*tls.Config, error) {
	c.mu.Lock()
	config, ok := c.byHost[host]
	c.mu.Unlock()
	if ok {
		return config, nil
	}
	config, err := c.forge(host, ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.byHost[host] = config
	c.mu.Unlock()
	return config, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	caCert := flag.String("ca-cert", "", "CA certificate (PEM)")
	caKey := flag.String("ca-key", "", "CA private key (PEM)")
	origin := flag.String("origin", "", "host:port every upstream connection goes to")
	upstreamCA := flag.String("upstream-ca", "", "CA that issued the origin's certificate (PEM)")
	flag.Parse()

	ca, err := tls.LoadX509KeyPair(*caCert, *caKey)
	if err != nil {
		log.Fatalf("goproxy-bench: CA: %v", err)
	}
	if ca.Leaf, err = x509.ParseCertificate(ca.Certificate[0]); err != nil {
		log.Fatalf("goproxy-bench: CA: %v", err)
	}
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(*upstreamCA)
	if err != nil || !roots.AppendCertsFromPEM(pem) {
		log.Fatalf("goproxy-bench: upstream CA %s unreadable", *upstreamCA)
	}

	proxy := goproxy.NewProxyHttpServer()
	proxy.Logger = log.New(io.Discard, "", 0)
	cache := &leafCache{forge: goproxy.TLSConfigFromCA(&ca), byHost: map[string]*tls.Config{}}
	mitm := &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: cache.config}
	proxy.OnRequest().HandleConnectFunc(func(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return mitm, host
	})
	dialer := &net.Dialer{}
	dialOrigin := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, *origin)
	}
	proxy.Tr = &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		DialContext:         dialOrigin,
		Dial:                func(network, addr string) (net.Conn, error) { return dialOrigin(context.Background(), network, addr) },
		MaxIdleConnsPerHost: 64,
	}

	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("goproxy-bench: listen: %v", err)
	}
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	log.Fatal(http.Serve(listener, proxy))
}
