// Command etcd is upstream's etcd server: the same entry point as
// go.etcd.io/etcd/server/v3's own main, which is not an importable package.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
