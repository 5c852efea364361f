package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/riffle-io/riffle/controller"
)

// applyBootstrapScram writes the SCRAM credentials `riffle format
// --add-scram` left in the metadata directory into the metadata log, as
// Kafka's bootstrap checkpoint seeds a new cluster. They apply to a cluster
// that has no SCRAM credential yet, written by the active controller; once
// the cluster has credentials the file is removed, so that a credential
// deleted later is not brought back by a restart.
func (b *Broker) applyBootstrapScram(ctx context.Context) error {
	dir := b.metadataDir()
	creds, err := controller.ReadBootstrapScram(dir)
	if err != nil || len(creds) == 0 {
		return err
	}
	remove := func() error {
		if err := os.Remove(filepath.Join(dir, controller.BootstrapScramFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if len(b.ctrl.Image().ScramCredentials) > 0 {
		return remove()
	}
	if !b.ctrl.IsActive() {
		b.logger.Info("SCRAM credentials from format wait for the active controller to write them (this node will retry at its next start)")
		return nil
	}
	ups := make([]controller.ScramUpsertion, 0, len(creds))
	for _, c := range creds {
		ups = append(ups, controller.ScramUpsertion{Name: c.Name, Mechanism: c.Mechanism, Iterations: c.Iterations, Salt: c.Salt, SaltedPassword: c.SaltedPassword})
	}
	res, err := b.ctrl.AlterUserScramCredentials(ctx, nil, ups)
	if err != nil {
		return fmt.Errorf("writing the SCRAM credentials from format: %w", err)
	}
	for user, e := range res {
		if e != nil {
			return fmt.Errorf("SCRAM credential for %s from format: %w", user, e)
		}
		b.logger.Info("SCRAM credential from format written to the metadata log", "user", user)
	}
	return remove()
}
