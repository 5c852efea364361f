package franzgo

import (
	"testing"

	"github.com/riffle-io/riffle/compat-tests/suite"
)

func TestMatrix(t *testing.T) { suite.Run(t, Driver{Seeds: suite.Seeds(t)}) }
