# The compat runner: the Debian base docker/compat.sh makes with debootstrap
# and `docker import` (kcat, kafka-python, confluent-kafka-python and the
# codecs kafka-python needs), plus the compat test binaries and cmd/matrix
# built on the host. No registry is reachable, so BASE is always a local image.
ARG BASE
FROM ${BASE}
ENV PYTHON=/usr/bin/python3 KCAT=/usr/bin/kcat
COPY bin/ /compat/bin/
# Fail the image build, not thirty matrix cells, when a client cannot load:
# a missing Python module, or a test binary linked against a newer glibc
# than the base has.
RUN /usr/bin/python3 -c 'import kafka, confluent_kafka, snappy, lz4.frame, zstandard' \
	&& kcat -V >/dev/null \
	&& for b in /compat/bin/*.test; do "$b" -test.list '^$' >/dev/null || exit 1; done
WORKDIR /compat
CMD ["/compat/bin/matrix", "-bin", "/compat/bin"]
