#!/usr/bin/perl
# A hostile local client for the browser flow's loopback listener, for
# mailcred's integration tests.
#
#   perl hostile-client.pl flood PORT N READY_FILE
#       opens N TCP connections to 127.0.0.1:PORT (non-blocking: those the
#       listener's queue cannot take stay "connecting") and leaves them open
#       and silent until killed; writes READY_FILE once all N connects have
#       been started. A connection the listener closes is not reopened.
#   perl hostile-client.pl slow PORT READY_FILE
#       one connection that sends "GET /?code=slow&state=slow HTTP/1.1..."
#       one byte a second, forever (until the listener closes it or it is
#       killed); writes READY_FILE after the first byte; prints "closed
#       after N bytes" when the listener closes it.
#   perl hostile-client.pl huge PORT MEGABYTES
#       sends a request head of that many MB (one long header line, no end)
#       as fast as the listener takes it, then reads the answer; prints the
#       status line it got (or "no answer") and how many bytes went out.
#
# Only loopback; nothing secret is sent.
use strict;
use warnings;
use IO::Socket::INET;

$SIG{PIPE} = 'IGNORE';
$| = 1;
my $mode = shift // die "usage: hostile-client.pl flood|slow|huge PORT ...\n";
my $port = shift // die "no port\n";

sub ready {
	my ($file) = @_;
	open(my $fh, '>', "$file.new") or die "$file.new: $!\n";
	print $fh "ready\n";
	close($fh);
	rename("$file.new", $file) or die "$file: $!\n";
}

if ($mode eq 'flood') {
	my ($n, $file) = @ARGV;
	my @socks;
	for (1 .. $n) {
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
		    PeerPort => $port, Proto => 'tcp', Blocking => 0);
		push @socks, $s if $s;
	}
	printf "flood: %d of %d connects started\n", scalar(@socks), $n;
	ready($file);
	sleep 3600;
} elsif ($mode eq 'slow') {
	my ($file) = @ARGV;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $port, Proto => 'tcp') or die "connect: $!\n";
	my $req = "GET /?code=slow&state=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n" .
	    ("X-Slow: " . ("s" x 60) . "\r\n") x 1000;
	my $sent = 0;
	for my $i (0 .. length($req) - 1) {
		my $w = syswrite($s, substr($req, $i, 1));
		if (!defined($w) || $w != 1) {
			print "closed after $sent bytes\n";
			exit 0;
		}
		$sent++;
		ready($file) if $sent == 1;
		# The listener's answer or close shows up as readable.
		my $rin = '';
		vec($rin, fileno($s), 1) = 1;
		if (select(my $rout = $rin, undef, undef, 1) > 0) {
			my $buf;
			my $r = sysread($s, $buf, 4096);
			if (!$r) {
				print "closed after $sent bytes\n";
				exit 0;
			}
			$buf =~ /^(HTTP\S* \d+)/ and print "answered $1 after $sent bytes\n";
		}
	}
	print "sent all $sent bytes\n";
} elsif ($mode eq 'huge') {
	my ($mb) = @ARGV;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
	    PeerPort => $port, Proto => 'tcp') or die "connect: $!\n";
	my $total = $mb * 1024 * 1024;
	my $chunk = "X-Huge: " . ("h" x 65536);
	my $sent = 0;
	syswrite($s, "GET /?code=huge&state=huge HTTP/1.1\r\nHost: 127.0.0.1\r\n");
	$s->blocking(0);
	my $answer = '';
	my $deadline = time + 30;
	while ($sent < $total && time < $deadline) {
		my ($rin, $win) = ('', '');
		vec($rin, fileno($s), 1) = 1;
		vec($win, fileno($s), 1) = 1;
		select(my $rout = $rin, my $wout = $win, undef, 1) > 0 or next;
		if (vec($rout, fileno($s), 1)) {
			my $r = sysread($s, my $buf, 4096);
			last if !$r;
			$answer .= $buf;
			last;
		}
		my $w = syswrite($s, $chunk);
		last if !defined($w) && !$!{EAGAIN};
		$sent += $w if defined $w;
	}
	$s->blocking(1);
	if ($answer eq '') {
		my $rin = '';
		vec($rin, fileno($s), 1) = 1;
		if (select(my $rout = $rin, undef, undef, 5) > 0) {
			sysread($s, $answer, 4096);
		}
	}
	my ($status) = ($answer // '') =~ /^(HTTP\S* \d+)/;
	printf "%s after %d bytes\n", $status // 'no answer', $sent;
} else {
	die "unknown mode $mode\n";
}
