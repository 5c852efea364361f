package protocol

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A non-flexible response cannot carry a string over 32,767 bytes; a
// flexible one can. The check names the field, and costs no allocation
// for a response that is fine.
func TestCheckEncodable(t *testing.T) {
	long := strings.Repeat("g", 32_768)
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Groups = []kmsg.ListGroupsResponseGroup{{Group: "ok"}, {Group: long}}
	resp.SetVersion(2)
	err := CheckEncodable(resp)
	if err == nil || !strings.Contains(err.Error(), ".Groups[1].Group: a string of 32768 bytes") {
		t.Fatalf("v2 with a 32,768-byte group id: %v", err)
	}
	resp.SetVersion(3) // flexible: compact strings
	if err := CheckEncodable(resp); err != nil {
		t.Fatalf("v3: %v", err)
	}
	resp.SetVersion(2)
	resp.Groups[1].Group = long[:32_767]
	if err := CheckEncodable(resp); err != nil {
		t.Fatalf("v2 with a 32,767-byte group id: %v", err)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = CheckEncodable(resp) }); allocs != 0 {
		t.Fatalf("%v allocations checking a response that is fine", allocs)
	}
}
