//go:build tools

// The test fault proxy, pinned: toxiproxy's server, built by scripts/build-toxiproxy.sh. This file only records the
// dependency for go.mod and go.sum (the build tag keeps it out of every build).
package tools

import _ "github.com/Shopify/toxiproxy/v2/cmd/server"
