# The GoHands browser image: Debian's Chromium on the local sandbox image, no registry.
#
#   make browser-image        # gohands/browser:bookworm, built on gohands/sandbox:bookworm
#
# The server runs one container of it per conversation, in the network namespace of the
# conversation's sandbox, and drives Chromium over the DevTools protocol through the
# container's stdin and stdout (see package browser/docker): no port, no host mount.
ARG BASE=gohands/sandbox:bookworm
FROM ${BASE}

# Chromium from Debian, with the security suite for its updates, and fonts so that pages and
# screenshots have readable text. The lists and caches are dropped in the same layer.
RUN echo 'deb http://deb.debian.org/debian-security bookworm-security main' > /etc/apt/sources.list.d/security.list \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium fonts-liberation fonts-dejavu-core >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
      /usr/share/doc/* /usr/share/man/* \
 && useradd --uid 1000 --create-home --shell /usr/sbin/nologin browser

USER 1000:1000
WORKDIR /tmp
CMD ["/usr/bin/chromium", "--version"]
