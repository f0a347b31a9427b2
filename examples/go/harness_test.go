// A go test harness for intercept-proxy, standard library only: TestMain starts one proxy on an
// ephemeral port, each test resets it, and the control API tells when a request reached it.
// The binary is $INTERCEPT_PROXY_BINARY, else intercept-proxy on PATH.
package harness

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type readyFile struct {
	Port          int    `json:"port"`
	CACertificate string `json:"caCertificate"`
	Admin         string `json:"admin"`
}

type flowPage struct {
	Events []struct {
		Sequence int                    `json:"sequence"`
		Event    map[string]interface{} `json:"event"`
	} `json:"events"`
	Next int `json:"next"`
}

var (
	ready  readyFile
	direct = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 90 * time.Second}
)

func TestMain(m *testing.M) {
	binary := os.Getenv("INTERCEPT_PROXY_BINARY")
	if binary == "" {
		binary = "intercept-proxy"
	}
	dir, err := os.MkdirTemp("", "intercept-proxy-go")
	if err != nil {
		panic(err)
	}
	readyPath := filepath.Join(dir, "ready.json")
	proxy := exec.Command(binary, "run", "--port", "0", "--admin", "127.0.0.1:0", "--offline",
		"--ca-dir", filepath.Join(dir, "ca"), "--ready-file", readyPath)
	if err := proxy.Start(); err != nil {
		panic(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if data, err := os.ReadFile(readyPath); err == nil && json.Unmarshal(data, &ready) == nil {
			break
		}
		if time.Now().After(deadline) {
			proxy.Process.Kill()
			panic("intercept-proxy wrote no ready file within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	code := m.Run()
	admin("POST", "/v1/shutdown", nil)
	done := make(chan error, 1)
	go func() { done <- proxy.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		proxy.Process.Kill()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// admin calls the control API and decodes its JSON answer into out (when not nil).
func admin(method, path string, body interface{}, out ...interface{}) error {
	var payload bytes.Buffer
	if body != nil {
		json.NewEncoder(&payload).Encode(body)
	}
	request, _ := http.NewRequest(method, "http://"+ready.Admin+path, &payload)
	answer, err := direct.Do(request)
	if err != nil {
		return err
	}
	defer answer.Body.Close()
	if answer.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s", method, path, answer.Status)
	}
	if len(out) > 0 {
		return json.NewDecoder(answer.Body).Decode(out[0])
	}
	return nil
}

// client goes through the proxy, trusting the given roots (nil: the system's).
func client(roots *x509.CertPool) *http.Client {
	proxyURL, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", ready.Port))
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

func reset(t *testing.T) {
	if err := admin("POST", "/v1/reset", nil); err != nil {
		t.Fatal(err)
	}
}

func TestGoFailsBehindTheGatewayTheWayItDoesAtWork(t *testing.T) {
	reset(t)
	_, err := client(nil).Get("https://proxy.golang.example/")
	if err == nil || !strings.Contains(err.Error(), "x509: certificate signed by unknown authority") {
		t.Fatalf("want the x509 unknown-authority failure, got %v", err)
	}
}

func TestAClientTrustingTheCAGetsThroughAndTheFlowIsRecorded(t *testing.T) {
	reset(t)
	var page flowPage
	pem := new(bytes.Buffer)
	answer, err := direct.Get("http://" + ready.Admin + "/v1/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	pem.ReadFrom(answer.Body)
	answer.Body.Close()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem.Bytes()) {
		t.Fatal("the control API's ca.pem holds no certificate")
	}
	response, err := client(roots).Get("https://api.example/v2/ping")
	if err != nil {
		t.Fatal(err)
	}
	response.Body.Close()
	if response.StatusCode != 200 {
		t.Fatalf("status %d", response.StatusCode)
	}
	// A long poll: returns as soon as the response is recorded.
	since := 0
	for attempt := 0; attempt < 20; attempt++ {
		if err := admin("GET", fmt.Sprintf("/v1/flows?since=%d&wait=10", since), nil, &page); err != nil {
			t.Fatal(err)
		}
		for _, item := range page.Events {
			if item.Event["type"] == "response" && item.Event["url"] == "https://api.example/v2/ping" {
				return
			}
		}
		since = page.Next
	}
	t.Fatalf("no response event for https://api.example/v2/ping; last page %+v", page)
}
