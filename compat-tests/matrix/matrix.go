// Package matrix is the single description of the compat matrix: which
// clients exist, which scenarios exist, and which cells are "n/a" because the
// client lacks the feature. The suite reads it to decide which subtests to
// run; the runner reads it to render the table. Adding a row or a column is
// one entry here plus a driver method or a scenario function.
package matrix

// A Scenario is one column of the table. Its Name is the subtest name used
// by suite.Run (TestMatrix/<Name>).
type Scenario struct {
	Name  string
	Title string // short column header
	Doc   string
}

// A Client is one row of the table: a Kafka client driven by the test binary
// built from Package.
type Client struct {
	Name    string
	Package string // relative to the compat-tests module
	Doc     string
	// NA lists scenarios the client truly cannot do, with the reason.
	NA map[string]string
}

// Scenario names.
const (
	Metadata       = "metadata"
	AutoCreate     = "auto-create"
	CodecNone      = "produce-consume-none"
	CodecGzip      = "produce-consume-gzip"
	CodecSnappy    = "produce-consume-snappy"
	CodecLz4       = "produce-consume-lz4"
	CodecZstd      = "produce-consume-zstd"
	Idempotent     = "idempotent"
	ListOffsets    = "list-offsets"
	LargeMessage   = "large-message"
	TooLargeReject = "too-large-rejected"
	Group          = "consumer-group"
	Rebalance      = "group-rebalance"
	AdminTopics    = "admin-topics"
	AdminConfigs   = "admin-configs"
	Transactions   = "transactions"
)

// Scenarios in table order.
var Scenarios = []Scenario{
	{Metadata, "metadata", "ApiVersions (where the client exposes it) and Metadata: brokers, partitions, leaders of a created topic"},
	{AutoCreate, "autocreate", "produce to and consume from a topic that does not exist yet (auto.create.topics.enable)"},
	{CodecNone, "none", "produce then consume uncompressed: keys, values, headers, timestamps, order, offsets"},
	{CodecGzip, "gzip", "as none, with gzip batches (checked on the stored batch attributes)"},
	{CodecSnappy, "snappy", "as none, with snappy batches"},
	{CodecLz4, "lz4", "as none, with lz4 batches"},
	{CodecZstd, "zstd", "as none, with zstd batches"},
	{Idempotent, "idempotent", "idempotent producer: stored batches carry a producer id, no duplicates, order kept"},
	{ListOffsets, "listoffsets", "ListOffsets by timestamp (offsetsForTimes), plus earliest/latest"},
	{LargeMessage, "large", "a record batch just under the topic's max.message.bytes round-trips"},
	{TooLargeReject, "toolarge", "a record batch over max.message.bytes is rejected with MESSAGE_TOO_LARGE"},
	{Group, "group", "consumer group: join, consume, commit, leave; a second session resumes at the committed offsets"},
	{Rebalance, "rebalance", "a second member joins a group the reference consumes in: partitions split, and return when it leaves"},
	{AdminTopics, "admintopics", "admin: create a topic (with a config), duplicate refused, create partitions, delete"},
	{AdminConfigs, "adminconfigs", "admin: describe a topic's configs, alter one, an invalid value refused"},
	{Transactions, "transactions", "transactional producer: an aborted then a committed transaction; read_committed sees only the committed records"},
}

// CodecScenarios maps each produce-consume scenario to its codec name.
var CodecScenarios = map[string]string{
	CodecNone:   "none",
	CodecGzip:   "gzip",
	CodecSnappy: "snappy",
	CodecLz4:    "lz4",
	CodecZstd:   "zstd",
}

// Clients in table order.
var Clients = []Client{
	{Name: "franz-go", Package: "clients/franzgo", Doc: "github.com/twmb/franz-go kgo + kadm (also the suite's reference client)"},
	{Name: "sarama", Package: "clients/sarama", Doc: "github.com/IBM/sarama"},
	{
		Name: "kafka-go", Package: "clients/kafkago", Doc: "github.com/segmentio/kafka-go",
		NA: map[string]string{
			Idempotent:   "kafka-go has no idempotent producer",
			Transactions: "kafka-go has no transactional producer (it writes every batch with producer id -1)",
		},
	},
	{Name: "confluent-go", Package: "clients/confluentgo", Doc: "github.com/confluentinc/confluent-kafka-go/v2 (librdkafka, cgo)"},
	{
		Name: "kcat", Package: "clients/kcat", Doc: "kcat (librdkafka) command line, /usr/bin/kcat",
		NA: map[string]string{
			AdminTopics:  "kcat has no admin operations",
			AdminConfigs: "kcat has no admin operations",
		},
	},
	{
		Name: "kafka-python", Package: "clients/kafkapython", Doc: "kafka-python 2.0.2 under /usr/bin/python3",
		NA: map[string]string{
			Idempotent:   "kafka-python 2.0.2 has no idempotent producer",
			Transactions: "kafka-python 2.0.2 has no transactional producer",
		},
	},
	{Name: "confluent-python", Package: "clients/confluentpython", Doc: "confluent-kafka-python (librdkafka) under /usr/bin/python3"},
}

// ClientByName returns the client named name.
func ClientByName(name string) (Client, bool) {
	for _, c := range Clients {
		if c.Name == name {
			return c, true
		}
	}
	return Client{}, false
}

// Supported reports whether client runs scenario (false means "n/a").
func (c Client) Supported(scenario string) bool {
	_, na := c.NA[scenario]
	return !na
}
