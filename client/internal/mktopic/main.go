// Command mktopic creates a topic (a helper for trying samsa produce and
// samsa bench produce by hand): mktopic host:port topic partitions.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: mktopic host:port topic partitions")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[3])
	cl, err := kgo.NewClient(kgo.SeedBrokers(os.Args[1]))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), int32(n), 1, nil, os.Args[2])
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
