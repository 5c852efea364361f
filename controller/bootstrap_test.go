package controller

import (
	"context"
	"testing"
	"time"
)

// TestBootstrapFeatures: the bootstrap feature levels are written once per
// metadata log: on a new log, and on a log that never got them (a start
// whose bootstrap failed, or a log from before); a feature removed later
// is not brought back, and metadata.version cannot be removed.
func TestBootstrapFeatures(t *testing.T) {
	dir := t.TempDir()
	start := func(boot map[string]int16) *Controller {
		t.Helper()
		return startControllerWith(t, dir, func(c *Config) { c.BootstrapFeatures = boot })
	}
	boot := map[string]int16{"metadata.version": 25, "transaction.version": 2}
	supported := map[string][2]int16{"metadata.version": {7, 25}, "transaction.version": {0, 2}}

	c := start(nil) // a log without bootstrap features
	if len(c.Image().Features) != 0 {
		t.Fatalf("features without bootstrap: %v", c.Image().Features)
	}
	c.Close()
	c = start(boot)
	if f := c.Image().Features; f["metadata.version"] != 25 || f["transaction.version"] != 2 {
		t.Fatalf("features after bootstrapping an old log: %v", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs, err := c.UpdateFeatures(ctx, []FeatureUpdate{{Name: "transaction.version", Level: 0, Downgrade: true}}, supported, false)
	if err != nil || len(errs) != 0 {
		t.Fatalf("remove transaction.version: %v %v", err, errs)
	}
	errs, _ = c.UpdateFeatures(ctx, []FeatureUpdate{{Name: "metadata.version", Level: 0, Downgrade: true}}, supported, false)
	if errs["metadata.version"] == nil {
		t.Fatal("metadata.version was removed")
	}
	c.Close()
	c = start(boot)
	defer c.Close()
	if f := c.Image().Features; f["metadata.version"] != 25 || f["transaction.version"] != 0 {
		t.Fatalf("features after a restart: %v, want transaction.version left removed", f)
	}
}
