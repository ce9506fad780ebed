// Command pcsync gets Qualys Policy Compliance posture into a database.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"pcsync/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], app.System())
	stop()
	os.Exit(code)
}
