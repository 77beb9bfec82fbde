// weft-node-cidr prints this node's pod CIDRs (the Node's spec.podCIDRs, one a line), read from the
// Kubernetes API with the pod's service-account token, the server verified against the
// service-account CA. The DaemonSet's install script renders Weft's conflist from them.
//
// It waits (up to -timeout) until the controller-manager has assigned a podCIDR: a node registers
// before it gets one. Standard library only; built static by `make image`.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const serviceAccount = "/var/run/secrets/kubernetes.io/serviceaccount"

type node struct {
	Spec struct {
		PodCIDR  string   `json:"podCIDR"`
		PodCIDRs []string `json:"podCIDRs"`
	} `json:"spec"`
}

func main() {
	timeout := flag.Duration("timeout", 5*time.Minute, "how long to wait for the API and a podCIDR")
	flag.Parse()
	name := os.Getenv("NODE_NAME")
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if name == "" || host == "" || port == "" {
		fail("NODE_NAME, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
	}
	caPEM, err := os.ReadFile(serviceAccount + "/ca.crt")
	if err != nil {
		fail("reading the service-account CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		fail("no certificate in %s/ca.crt", serviceAccount)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	url := "https://" + net.JoinHostPort(host, port) + "/api/v1/nodes/" + name
	deadline := time.Now().Add(*timeout)
	for {
		cidrs, err := podCIDRs(client, url)
		if err == nil && len(cidrs) > 0 {
			fmt.Println(strings.Join(cidrs, "\n"))
			return
		}
		if err == nil {
			err = fmt.Errorf("node %s has no podCIDR yet", name)
		}
		if time.Now().After(deadline) {
			fail("%v", err)
		}
		fmt.Fprintf(os.Stderr, "weft-node-cidr: %v; retrying\n", err)
		time.Sleep(time.Second)
	}
}

func podCIDRs(client *http.Client, url string) ([]string, error) {
	// The token is re-read each time: the kubelet rotates projected tokens.
	token, err := os.ReadFile(serviceAccount + "/token")
	if err != nil {
		return nil, err
	}
	request, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	request.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	request.Header.Set("Accept", "application/json")
	response, err := client.Do(request)
	if err != nil {
		return nil, err
	}
	defer response.Body.Close()
	body, err := io.ReadAll(io.LimitReader(response.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, response.Status, strings.TrimSpace(string(body)))
	}
	var n node
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("decoding the Node: %v", err)
	}
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs, nil
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}, nil
	}
	return nil, nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "weft-node-cidr: "+format+"\n", args...)
	os.Exit(1)
}
