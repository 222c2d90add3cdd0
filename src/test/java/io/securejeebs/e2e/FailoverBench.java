package io.securejeebs.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The failover benchmark ({@code scripts/bench-failover}; not part of the test run: its name does not end
 * in IT). For 1 and 10 interactive ssh sessions, several runs each, it measures the time from the crash
 * (network cut, then SIGKILL) to the echo of a command typed right after the crash, seen in the same ssh
 * process; and it splits where the time went, from the failover report: detection (heartbeat misses),
 * the failover steps, the replay of each session, and the rest (the client's retransmission clock).
 */
class FailoverBench {
    @TempDir
    Path work;

    record Run(int sessions, List<Double> echoMillis, double detectMillis, double failoverMillis, double replayMaxMillis) {}

    @Test
    void failoverTimes() throws Exception {
        assumeTrue(Lab.canRun(), Lab::whyNot);
        int runs = Integer.parseInt(System.getenv().getOrDefault("SJ_BENCH_RUNS", "5"));
        List<Run> results = new ArrayList<>();
        for (int sessions : new int[] {1, 10}) {
            for (int r = 0; r < runs; r++) {
                Path dir = Files.createDirectories(work.resolve("s" + sessions + "-r" + r));
                results.add(once(dir, sessions));
                Run last = results.get(results.size() - 1);
                System.out.printf(Locale.ROOT, "run %d/%d, %2d session(s): echo %s ms%n", r + 1, runs, sessions,
                        last.echoMillis().stream().map(v -> String.format(Locale.ROOT, "%.0f", v)).toList());
            }
        }
        print(results, runs);
    }

    private Run once(Path dir, int n) throws Exception {
        String tag = HexFormat.of().toHexDigits((int) (System.nanoTime() & 0xffffff));
        try (SshLab lab = SshLab.start(dir, "", n)) {
            List<SshLab.Shell> shells = new ArrayList<>();
            for (int i = 1; i <= n; i++) {
                shells.add(lab.openShell(i, "b" + i, null));
            }
            for (int i = 0; i < n; i++) {
                shells.get(i).type("echo before-" + i + "-" + tag + "\n");
                shells.get(i).awaitOutput("before-" + i + "-" + tag, 2, Duration.ofSeconds(30));
            }
            Thread.sleep(500);
            long crashWall = System.currentTimeMillis();
            long crash = lab.crashPrimary();
            for (int i = 0; i < n; i++) {
                shells.get(i).type("echo after-" + i + "-" + tag + "\n");
            }
            List<Double> echo = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                echo.add((shells.get(i).awaitOutput("after-" + i + "-" + tag, 2, Duration.ofSeconds(60)) - crash) / 1e6);
            }
            JsonNode report = new ObjectMapper().readTree(lab.awaitFailoverReport(Duration.ofSeconds(10)).toFile());
            double replayMax = 0;
            for (JsonNode c : report.get("connections")) {
                replayMax = Math.max(replayMax, c.get("restoreMillis").asDouble());
            }
            return new Run(n, echo, report.get("detectedEpochMillis").asLong() - crashWall,
                    report.get("totalMillis").asDouble(), replayMax);
        }
    }

    private static void print(List<Run> results, int runs) {
        System.out.println();
        System.out.println("Failover: crash (network cut + SIGKILL) to the echo of a command typed right after it,");
        System.out.println("seen in the same ssh process. Heartbeat 100 ms x 3. " + runs + " runs each.");
        System.out.println();
        System.out.printf(Locale.ROOT, "%-9s %8s %8s %8s %8s | %10s %10s %12s %10s%n", "sessions", "mean", "median",
                "p95", "max", "detect", "failover", "replay(max)", "paper");
        for (int n : new int[] {1, 10}) {
            List<Double> all = new ArrayList<>();
            double detect = 0;
            double failover = 0;
            double replay = 0;
            int count = 0;
            for (Run r : results) {
                if (r.sessions() == n) {
                    all.addAll(r.echoMillis());
                    detect += r.detectMillis();
                    failover += r.failoverMillis();
                    replay += r.replayMaxMillis();
                    count++;
                }
            }
            all.sort(Double::compare);
            double mean = all.stream().mapToDouble(Double::doubleValue).average().orElse(0);
            System.out.printf(Locale.ROOT, "%-9d %6.0fms %6.0fms %6.0fms %6.0fms | %8.0fms %8.0fms %10.0fms %10s%n", n,
                    mean, percentile(all, 50), percentile(all, 95), all.get(all.size() - 1), detect / count,
                    failover / count, replay / count, n == 1 ? "19 s" : "-");
        }
        System.out.println();
        System.out.println("detect: crash to the primary declared dead (mean); failover: declared dead to the last session");
        System.out.println("installed (mean); replay(max): the slowest session's CPR replay and install (mean over runs).");
        System.out.println("The keystrokes typed after the crash were captured and wait in the restored socket's receive");
        System.out.println("queue; the rest of the echo time is the new login shell reading and answering them.");
        System.out.println("Paper: Wu, Burt, Thurimella, ACSAC 2003, 19 s for one session.");
    }

    private static double percentile(List<Double> sorted, int p) {
        int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
    }
}
