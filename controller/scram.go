package controller

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// SCRAM credentials (KIP-554) live in the metadata log as Kafka's
// UserScramCredentialRecord and RemoveUserScramCredentialRecord: the salt,
// the iteration count and the keys RFC 5802 derives from the salted
// password (StoredKey, ServerKey), never the password. This file is
// Kafka's ScramControlManager.

// SCRAM mechanisms as the records and the admin APIs number them
// (Kafka's ScramMechanism).
const (
	ScramSHA256 int8 = 1
	ScramSHA512 int8 = 2
)

// ScramMechanismName names a mechanism as SASL does ("" if unknown).
func ScramMechanismName(m int8) string {
	switch m {
	case ScramSHA256:
		return "SCRAM-SHA-256"
	case ScramSHA512:
		return "SCRAM-SHA-512"
	}
	return ""
}

// ScramHash is the mechanism's hash (nil if unknown).
func ScramHash(m int8) func() hash.Hash {
	switch m {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// Iteration bounds (Kafka's ScramMechanism minIterations and
// ScramControlManager's maximum).
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// UserScramCredentialRecord sets a user's credential for one mechanism.
type UserScramCredentialRecord struct {
	Name       string `json:"Name"`
	Mechanism  int8   `json:"Mechanism"`
	Salt       []byte `json:"Salt"`
	StoredKey  []byte `json:"StoredKey"`
	ServerKey  []byte `json:"ServerKey"`
	Iterations int32  `json:"Iterations"`
}

func (*UserScramCredentialRecord) recordType() string { return "UserScramCredentialRecord" }

// RemoveUserScramCredentialRecord removes a user's credential for one
// mechanism.
type RemoveUserScramCredentialRecord struct {
	Name      string `json:"Name"`
	Mechanism int8   `json:"Mechanism"`
}

func (*RemoveUserScramCredentialRecord) recordType() string {
	return "RemoveUserScramCredentialRecord"
}

// ScramCredential is one stored credential.
type ScramCredential struct {
	Salt, StoredKey, ServerKey []byte
	Iterations                 int32
}

// ScramUpsertion sets a credential from a salted password (the admin
// client salts and hashes; the password never reaches the broker).
type ScramUpsertion struct {
	Name           string
	Mechanism      int8
	Iterations     int32
	Salt           []byte
	SaltedPassword []byte
}

// ScramDeletion removes a credential.
type ScramDeletion struct {
	Name      string
	Mechanism int8
}

// ScramKeys derives RFC 5802's StoredKey and ServerKey from a salted
// password: ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey =
// H(ClientKey), ServerKey = HMAC(SaltedPassword, "Server Key").
func ScramKeys(mechanism int8, saltedPassword []byte) (storedKey, serverKey []byte) {
	h := ScramHash(mechanism)
	mac := hmac.New(h, saltedPassword)
	mac.Write([]byte("Client Key"))
	clientKey := mac.Sum(nil)
	hh := h()
	hh.Write(clientKey)
	storedKey = hh.Sum(nil)
	mac = hmac.New(h, saltedPassword)
	mac.Write([]byte("Server Key"))
	return storedKey, mac.Sum(nil)
}

// AlterUserScramCredentials applies deletions and upsertions, each user
// valid or not on its own, as Kafka's ScramControlManager; the valid ones
// commit together. The result maps each user named to its error (nil:
// altered).
func (c *Controller) AlterUserScramCredentials(ctx context.Context, deletions []ScramDeletion, upsertions []ScramUpsertion) (map[string]error, error) {
	results := map[string]error{}
	err := c.propose(ctx, func(im *Image) ([]Record, error) {
		clear(results)
		count := map[string]int{}
		for _, d := range deletions {
			count[d.Name]++
		}
		for _, u := range upsertions {
			count[u.Name]++
		}
		var recs []Record
		fail := func(name string, err error) {
			if results[name] == nil {
				results[name] = err
			}
		}
		for _, d := range deletions {
			markNamed(results, d.Name)
			switch {
			case count[d.Name] > 1:
				fail(d.Name, fmt.Errorf("%w: A user credential cannot be altered twice in the same request", kerr.DuplicateResource))
			case d.Name == "":
				fail(d.Name, fmt.Errorf("%w: Username must not be empty", kerr.UnacceptableCredential))
			case ScramMechanismName(d.Mechanism) == "":
				fail(d.Name, fmt.Errorf("%w: Unknown SCRAM mechanism", kerr.UnsupportedSaslMechanism))
			default:
				if _, ok := im.ScramCredentials[d.Name][d.Mechanism]; !ok {
					fail(d.Name, fmt.Errorf("%w: Attempt to delete a user credential that does not exist", kerr.ResourceNotFound))
				} else {
					recs = append(recs, &RemoveUserScramCredentialRecord{Name: d.Name, Mechanism: d.Mechanism})
				}
			}
		}
		for _, u := range upsertions {
			markNamed(results, u.Name)
			switch {
			case count[u.Name] > 1:
				fail(u.Name, fmt.Errorf("%w: A user credential cannot be altered twice in the same request", kerr.DuplicateResource))
			case u.Name == "":
				fail(u.Name, fmt.Errorf("%w: Username must not be empty", kerr.UnacceptableCredential))
			case ScramMechanismName(u.Mechanism) == "":
				fail(u.Name, fmt.Errorf("%w: Unknown SCRAM mechanism", kerr.UnsupportedSaslMechanism))
			case u.Iterations < ScramMinIterations:
				fail(u.Name, fmt.Errorf("%w: Too few iterations", kerr.UnacceptableCredential))
			case u.Iterations > ScramMaxIterations:
				fail(u.Name, fmt.Errorf("%w: Too many iterations", kerr.UnacceptableCredential))
			case len(u.Salt) == 0 || len(u.SaltedPassword) == 0:
				fail(u.Name, fmt.Errorf("%w: salt and salted password must not be empty", kerr.UnacceptableCredential))
			default:
				stored, server := ScramKeys(u.Mechanism, u.SaltedPassword)
				recs = append(recs, &UserScramCredentialRecord{Name: u.Name, Mechanism: u.Mechanism,
					Salt: slices.Clone(u.Salt), StoredKey: stored, ServerKey: server, Iterations: u.Iterations})
			}
		}
		return recs, nil
	})
	return results, err
}

// markNamed lists a user in the results (nil: no error so far).
func markNamed(results map[string]error, name string) {
	if _, ok := results[name]; !ok {
		results[name] = nil
	}
}

func (b *builder) replayScram(name string, mechanism int8, cred *ScramCredential) error {
	if name == "" {
		return errors.New("SCRAM credential for an empty user name")
	}
	if ScramMechanismName(mechanism) == "" {
		return fmt.Errorf("SCRAM credential with unknown mechanism %d", mechanism)
	}
	next := maps.Clone(b.next.ScramCredentials)
	if next == nil {
		next = map[string]map[int8]ScramCredential{}
	}
	user := maps.Clone(next[name])
	if user == nil {
		user = map[int8]ScramCredential{}
	}
	if cred == nil {
		delete(user, mechanism)
	} else {
		if cred.Iterations <= 0 || len(cred.StoredKey) == 0 || len(cred.ServerKey) == 0 {
			return fmt.Errorf("SCRAM credential of %q is incomplete", name)
		}
		user[mechanism] = *cred
	}
	if len(user) == 0 {
		delete(next, name)
	} else {
		next[name] = user
	}
	b.next.ScramCredentials = next
	return nil
}

// scramRecords returns the records rebuilding im's credentials (snapshots).
func (im *Image) scramRecords() []Record {
	var recs []Record
	for _, name := range slices.Sorted(maps.Keys(im.ScramCredentials)) {
		for _, m := range slices.Sorted(maps.Keys(im.ScramCredentials[name])) {
			c := im.ScramCredentials[name][m]
			recs = append(recs, &UserScramCredentialRecord{Name: name, Mechanism: m, Salt: c.Salt,
				StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: c.Iterations})
		}
	}
	return recs
}
