// Package confluentpython runs the compat matrix with confluent-kafka-python.
package confluentpython

import (
	"os"
	"testing"

	"github.com/riffle-io/riffle/compat-tests/clients/pyclient"
	"github.com/riffle-io/riffle/compat-tests/suite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pyclient.Cleanup()
	os.Exit(code)
}

func TestMatrix(t *testing.T) {
	suite.Run(t, pyclient.Driver{Seeds: suite.Seeds(t), Client: "confluent-python", Lib: "confluent"})
}
