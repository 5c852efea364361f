// Package config holds Riffle's typed broker and topic configuration, under
// Kafka's property names, with Kafka's defaults, types, validators and
// documentation, so that a Kafka server.properties file (or the KAFKA_*
// variables of the apache/kafka Docker image) configures Riffle unchanged.
//
// Precedence, lowest first: defaults < properties file < KAFKA_* environment
// < --override flags. Unknown properties are warnings; a bad value is an error
// that names the property, the value and the reason, so the broker refuses to
// start rather than run with a configuration nobody asked for.
//
// Topic configs (TopicConfigDefs) take their defaults from their broker
// synonyms (segment.bytes from log.segment.bytes, …), as Kafka's LogConfig
// does. The package imports the standard library only.
package config
