#!/usr/bin/perl
# A loopback TCP port where connect() times out, for timeout tests.
#
#   perl /ABS/tests/peers/blackhole.pl PORTFILE
#
# Listens on 127.0.0.1 at a free port with a backlog of 0 and never
# accepts; it connects to itself once, which fills the accept queue.  Linux
# then drops every further SYN to that port (a full accept queue drops
# SYNs; no RST is sent), so a client's connect() waits and times out,
# exactly as with a firewall that drops packets.  The port number goes to
# PORTFILE (a temp file renamed into place) once the queue is full.  Runs
# until SIGTERM/SIGINT.
use strict;
use warnings;
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_REUSEADDR inet_aton
    pack_sockaddr_in unpack_sockaddr_in);

my $portfile = shift @ARGV or die "usage: blackhole.pl PORTFILE\n";
my $lo = inet_aton('127.0.0.1');

socket(my $listener, PF_INET, SOCK_STREAM, 0) or die "blackhole: socket: $!\n";
bind($listener, pack_sockaddr_in(0, $lo)) or die "blackhole: bind: $!\n";
listen($listener, 0) or die "blackhole: listen: $!\n";
my ($port) = unpack_sockaddr_in(getsockname($listener));

# The one connection the queue holds; never accepted.
socket(my $filler, PF_INET, SOCK_STREAM, 0) or die "blackhole: socket: $!\n";
connect($filler, pack_sockaddr_in($port, $lo)) or die "blackhole: connect: $!\n";

open(my $fh, '>', "$portfile.tmp.$$") or die "blackhole: $portfile: $!\n";
print $fh "$port\n";
close($fh) or die "blackhole: $portfile: $!\n";
rename("$portfile.tmp.$$", $portfile) or die "blackhole: $portfile: $!\n";

$SIG{TERM} = $SIG{INT} = sub { exit 0 };
sleep 3600 while 1;
