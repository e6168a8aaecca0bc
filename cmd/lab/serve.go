package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lab-chaos/lab/reports"
)

type serveOptions struct {
	addr  string
	store string
}

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Browse the store's runs and reports on localhost",
		Long: `serve writes the store's index.html afresh (and again on every visit to it)
and serves the store read-only over HTTP, on a loopback address only: the
reports hold whatever the system under test said, and a run directory is
nobody else's business.

Reports and the index are served with a Content-Security-Policy that allows no
script and nothing from the network.`,
		Example: `  lab serve
  lab serve --addr 127.0.0.1:9000 --store /var/lib/lab/nightly`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := loopbackOnly(o.addr); err != nil {
				return badInput(err, "lab serve --addr 127.0.0.1:8080")
			}
			if fi, err := os.Stat(o.store); err != nil || !fi.IsDir() {
				return badInput(fmt.Errorf("store %s is not a directory", o.store), "run a scenario first (lab run), or name the store with --store")
			}
			if err := reports.WriteIndex(o.store); err != nil {
				return labFailure(err)
			}
			ln, err := net.Listen("tcp", o.addr)
			if err != nil {
				return labFailure(err)
			}
			srv := &http.Server{Handler: storeHandler(o.store), ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(cmd.OutOrStdout(), "serving %s on http://%s/ (Ctrl-C stops)\n", o.store, ln.Addr())
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return labFailure(err)
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return labFailure(err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on; loopback only")
	f.StringVar(&o.store, "store", "store", "directory of run directories")
	return cmd
}

// loopbackOnly refuses an address that is not on a loopback interface.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q is not a loopback address: lab serve only listens on localhost", addr)
	}
	return nil
}

// reportCSP allows the reports and the index nothing but their own inline
// style and data: images.
const reportCSP = "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

// storeHandler serves the store read-only; the index is rewritten on each
// visit, so that it lists runs finished since serve started.
func storeHandler(store string) http.Handler {
	files := http.FileServer(http.Dir(store))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "read only", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		if p == "/" || p == "/"+reports.IndexFile {
			if err := reports.WriteIndex(store); err != nil {
				http.Error(w, "index: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		if p == "/" || strings.HasSuffix(p, "/"+reports.IndexFile) || strings.HasSuffix(p, "/"+reports.HTMLFile) {
			w.Header().Set("Content-Security-Policy", reportCSP)
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
