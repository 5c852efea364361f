package coordinator

import "testing"

// Every key this coordinator writes names its group where RecordGroup
// looks for it, so the runtime can tell which group a write concerns.
func TestRecordGroup(t *testing.T) {
	member := "m-1"
	for _, tc := range []struct {
		name string
		key  []byte
		want string
		ok   bool
	}{
		{"offset commit", offsetCommitKey("g1", "t", 3), "g1", true},
		{"group metadata", groupMetadataKey("grp-2"), "grp-2", true},
		{"consumer group metadata", consumerKey(keyConsumerGroupMetadata, "c", nil), "c", true},
		{"consumer member", consumerKey(keyConsumerGroupMemberMetadata, "c2", &member), "c2", true},
		{"empty group", groupMetadataKey(""), "", true},
		{"too short", []byte{0, 2, 0}, "", false},
		{"length past the key", []byte{0, 2, 0, 9, 'a'}, "", false},
		{"negative length", []byte{0, 2, 0xff, 0xff}, "", false},
	} {
		got, ok := RecordGroup(tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: RecordGroup = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
