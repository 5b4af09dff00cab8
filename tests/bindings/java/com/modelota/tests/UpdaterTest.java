package com.modelota.tests;

import com.modelota.Config;
import com.modelota.Lease;
import com.modelota.ModelOtaException;
import com.modelota.ModelPolicy;
import com.modelota.Updater;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The Java binding against a real ota-server on loopback and a repository signed with the real
 * otactl: enrollment by the first open, check, update with progress on the calling thread,
 * leases, session reports, download conditions, a cancel from the progress listener and the
 * resumed update, a listener's own exception, bad configs and null arguments.
 *
 * <p>Usage: UpdaterTest OTACTL OTA_SERVER. Exits 1 at the first failed expectation, naming it.
 */
public final class UpdaterTest {
  private final String otactl;
  private final String otaServer;
  private final Path work;
  private Process server;
  private String url;
  private String enrollmentToken;

  private UpdaterTest(String otactl, String otaServer, Path work) {
    this.otactl = otactl;
    this.otaServer = otaServer;
    this.work = work;
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      System.err.println("usage: UpdaterTest OTACTL OTA_SERVER");
      System.exit(2);
    }
    Path work = Files.createTempDirectory("modelota-java-test");
    UpdaterTest test = new UpdaterTest(args[0], args[1], work);
    long start = System.nanoTime();
    boolean passed = false;
    try {
      test.run();
      passed = true;
    } catch (AssertionError | Exception e) {
      System.err.println("FAILED: " + e);
      e.printStackTrace();
      test.printServerLog();
    } finally {
      test.stopServer();
    }
    if (!passed) {
      System.err.println("kept " + work + " for inspection");
      System.exit(1);
    }
    deleteTree(work);
    System.out.printf("PASSED in %.1f s%n", (System.nanoTime() - start) / 1e9);
  }

  private void run() throws Exception {
    initRepository();
    publish("1.0.0", 1, "2", "64", null);
    enrollmentToken = command(otaServer, "enrollment-token", "create", "--db", sub("server.db"),
        "--name", "fleet").trim();
    startServer();

    refusesBadConfigs();
    String versionId;
    try (Updater updater = Updater.open(config("device"))) {
      versionId = firstUpdateAndLease(updater);
      refusesNullArguments(updater);
      conditionsHoldADownload(updater);
    }
    cancelFromTheListenerThenResume(versionId);
  }

  // ---- the scenarios

  private void refusesBadConfigs() throws Exception {
    // A state folder's first open enrolls: it needs the models.
    Config noModels = config("no-models");
    noModels.models = null;
    ModelOtaException e = expectThrows(ModelOtaException.class, () -> Updater.open(noModels));
    expectEquals("invalid-argument", e.status(), "status of a first open without models");
    expect(e.getMessage().contains("server_url, trusted_root_file and models are required"),
        "message of a first open without models: " + e.getMessage());
    Config badPolicy = config("bad-policy");
    badPolicy.downloadPolicyJson = "{\"rules\": [{\"network\": \"wifi\"}]}";
    e = expectThrows(ModelOtaException.class, () -> Updater.open(badPolicy));
    expectEquals("invalid-argument", e.status(), "status of a bad download policy");
    expectThrows(NullPointerException.class, () -> Updater.open(null));
    expectThrows(NullPointerException.class, () -> Updater.open(new Config(null)));
    Config nullModel = config("null-model");
    nullModel.models = new String[] {"chat", null};
    expectThrows(NullPointerException.class, () -> Updater.open(nullModel));
    Config nul = config("nul");
    nul.appVersion = "1.0\u00002";
    expectThrows(IllegalArgumentException.class, () -> Updater.open(nul));
  }

  private String firstUpdateAndLease(Updater updater) throws Exception {
    String checked = updater.check();
    expect(checked.contains("\"update_available\":true"), "check offers 1.0.0: " + checked);

    List<long[]> progress = new ArrayList<>();
    Thread caller = Thread.currentThread();
    String outcomes = updater.update((model, done, total) -> {
      expectEquals("chat", model, "progress model");
      expect(Thread.currentThread() == caller, "progress on the calling thread");
      progress.add(new long[] {done, total});
    });
    expect(outcome(outcomes, "updated"), "first update installs 1.0.0: " + outcomes);
    expect(!progress.isEmpty(), "progress was reported");
    long[] last = progress.get(progress.size() - 1);
    expect(last[1] > 0 && last[0] == last[1],
        "progress reaches the total: " + Arrays.toString(last));
    for (int i = 1; i < progress.size(); ++i) {
      expect(progress.get(i)[0] >= progress.get(i - 1)[0], "progress never goes back");
    }

    String versionId;
    Lease lease = updater.getModel("chat", ModelPolicy.LATEST);
    try {
      expectEquals("chat", lease.model(), "lease model");
      expectEquals("1.0.0", lease.version(), "lease version");
      versionId = lease.versionId();
      expect(versionId.matches("[0-9a-f]{64}"), "version id is a sha256: " + versionId);
      expect(new File(lease.modelPath()).isFile(), "the model file exists: " + lease.modelPath());
      expect(lease.modelPath().startsWith(lease.dir()), "the model file is in the version folder");
      String prompt = lease.findFile("prompts/chat.txt");
      expect(prompt != null && new String(Files.readAllBytes(Path.of(prompt)),
          StandardCharsets.UTF_8).startsWith("Answer briefly"), "the bundle's prompt: " + prompt);
      expectEquals(null, lease.findFile("prompts/none.txt"), "a file the bundle lacks");
      updater.reportSession(lease.versionId(), true, "ok");
      updater.reportSession(lease.versionId(), true, null);
    } finally {
      lease.close();
    }
    lease.close(); // Harmless.
    expectThrows(IllegalStateException.class, () -> lease.findFile("prompts/chat.txt"));
    expectEquals("1.0.0", lease.version(), "a closed lease's fields stay readable");
    try (Lease local = updater.getModel("chat", ModelPolicy.LOCAL_ONLY)) {
      expectEquals(versionId, local.versionId(), "local only leases the installed version");
    }
    ModelOtaException e = expectThrows(ModelOtaException.class,
        () -> updater.getModel("no-such-model", ModelPolicy.LOCAL_ONLY));
    expectEquals("not-found", e.status(), "status of a model never installed");
    return versionId;
  }

  private void refusesNullArguments(Updater updater) throws Exception {
    expectThrows(NullPointerException.class, () -> updater.getModel(null, ModelPolicy.LATEST));
    expectThrows(NullPointerException.class, () -> updater.getModel("chat", null));
    expectThrows(NullPointerException.class, () -> updater.setConditions(null));
    expectThrows(NullPointerException.class, () -> updater.reportSession(null, true, ""));
    expectThrows(IllegalArgumentException.class, () -> updater.getModel("ch\u0000at",
        ModelPolicy.LOCAL_ONLY));
    ModelOtaException e =
        expectThrows(ModelOtaException.class, () -> updater.setConditions("{\"network\": 3}"));
    expectEquals("invalid-argument", e.status(), "status of bad conditions");
    expect(e.getMessage().contains("\"network\" must be a string"), "message: " + e.getMessage());
    e = expectThrows(ModelOtaException.class, () -> updater.reportSession("not-hex", true, ""));
    expectEquals("invalid-argument", e.status(), "status of a bad version id");
  }

  private void conditionsHoldADownload(Updater updater) throws Exception {
    Path policy = work.resolve("policy.json");
    Files.write(policy, "{\"rules\": [{\"charging\": true}]}".getBytes(StandardCharsets.UTF_8));
    publish("1.1.0", 2, "2", "64", policy.toString());
    updater.setConditions("{\"charging\": false}");
    String held = updater.update(null);
    expect(outcome(held, "deferred") && held.contains("waiting to download"),
        "the bundle's policy holds 1.1.0 while not charging: " + held);
    try (Lease lease = updater.getModel("chat", ModelPolicy.LOCAL_ONLY)) {
      expectEquals("1.0.0", lease.version(), "the local model is served meanwhile");
    }
    updater.setConditions("{\"charging\": true}");
    String done = updater.update(null);
    expect(outcome(done, "confirming") || outcome(done, "updated"),
        "charging: 1.1.0 is installed: " + done);
    try (Lease lease = updater.getModel("chat", ModelPolicy.LOCAL_ONLY)) {
      expectEquals("1.1.0", lease.version(), "1.1.0 is active");
    }
  }

  private void cancelFromTheListenerThenResume(String oldVersionId) throws Exception {
    // A second device, new, for a download large enough to stop in the middle.
    publish("1.2.0", 3, "4", "256", null);
    Updater updater = Updater.open(config("device2"));
    try {
      // The listener's own exception stops the update and is what update() throws.
      IllegalStateException thrown = expectThrows(IllegalStateException.class,
          () -> updater.update((model, done, total) -> {
            if (done > 0) throw new IllegalStateException("listener stops");
          }));
      expectEquals("listener stops", thrown.getMessage(), "the listener's exception");

      long[] stoppedAt = {0, 0};
      ModelOtaException e = expectThrows(ModelOtaException.class,
          () -> updater.update((model, done, total) -> {
            if (done > 0 && stoppedAt[0] == 0) {
              stoppedAt[0] = done;
              stoppedAt[1] = total;
              updater.cancel();
            }
          }));
      expectEquals("cancelled", e.status(), "status of a cancelled update");
      expect(e.outcomes() != null && e.outcomes().contains("\"error_code\":\"cancelled\""),
          "the cancelled cycle's outcomes: " + e.outcomes());
      expect(stoppedAt[0] > 0 && stoppedAt[0] < stoppedAt[1],
          "cancelled mid-download: " + Arrays.toString(stoppedAt));
      e = expectThrows(ModelOtaException.class,
          () -> updater.getModel("chat", ModelPolicy.LOCAL_ONLY));
      expectEquals("not-found", e.status(), "nothing installed after the cancel");
      // Calls that wait for the running update are refused inside its listener.
      String resumed = updater.update((model, done, total) -> {
        expectThrows(IllegalStateException.class, updater::check);
        expectThrows(IllegalStateException.class, updater::close);
      });
      expect(outcome(resumed, "updated"), "the resumed update installs 1.2.0: " + resumed);
      expect(lastNumber(resumed, "bytes_resumed") > 0, "it resumed bytes: " + resumed);
      try (Lease lease = updater.getModel("chat", ModelPolicy.LOCAL_THEN_BACKGROUND)) {
        expectEquals("1.2.0", lease.version(), "the resumed update's version");
        expect(!lease.versionId().equals(oldVersionId), "a new version id");
        String background = updater.awaitBackground();
        expect(
            background != null && outcome(background, "up-to-date"),
            "the background update's outcome: " + background);
        expect(updater.awaitBackground() == null, "a background result is returned once");
      }
      // A lease left open is released by close.
      updater.getModel("chat", ModelPolicy.LOCAL_ONLY);
    } finally {
      updater.close();
    }
    updater.close(); // Harmless.
    updater.cancel(); // Harmless.
    expectThrows(IllegalStateException.class, updater::check);
    try (Updater again = Updater.open(new Config(sub("device2")))) {
      try (Lease lease = again.getModel("chat", ModelPolicy.LOCAL_ONLY)) {
        expectEquals("1.2.0", lease.version(), "a later open needs only the state folder");
      }
    }
  }

  // ---- the repository and the server

  private String sub(String relative) {
    return work.resolve(relative).toString();
  }

  private String key(String role) {
    return sub("keys/" + role + ".key");
  }

  private Config config(String device) {
    Config c = new Config(sub(device));
    c.serverUrl = url;
    c.trustedRootFile = sub("repo/metadata/root.json");
    c.models = new String[] {"chat"};
    c.enrollmentToken = enrollmentToken;
    c.appVersion = "3.2.0";
    return c;
  }

  private void initRepository() throws Exception {
    for (String role : new String[] {"root", "targets", "snapshot", "timestamp"}) {
      command(otactl, "keygen", "--out", key(role));
    }
    command(otactl, "repo", "init", "--repo", sub("repo"), "--root-key", key("root"),
        "--targets-key", key("targets"), "--snapshot-key", key("snapshot"), "--timestamp-key",
        key("timestamp"));
    Files.createDirectories(work.resolve("prompts"));
    Files.write(work.resolve("prompts/chat.txt"),
        "Answer briefly: {{q}}\n".getBytes(StandardCharsets.UTF_8));
  }

  private void publish(String version, int seed, String layers, String width, String policy)
      throws Exception {
    String model = sub("model-" + version + ".gguf");
    String bundle = sub("chat-" + version + ".otab");
    command(otactl, "model", "synth", "--seed", Integer.toString(seed), "--type", "f16",
        "--layers", layers, "--width", width, "--out", model);
    command(otactl, "bundle", "build", "--name", "chat", "--version", version, "--model", model,
        "--prompts", sub("prompts"), "--out", bundle, "--shadow-skip",
        "java binding test: random weights");
    List<String> publish = new ArrayList<>(Arrays.asList(otactl, "publish", "--repo", sub("repo"),
        "--bundle", bundle, "--targets-key", key("targets"), "--snapshot-key", key("snapshot"),
        "--timestamp-key", key("timestamp")));
    if (policy != null) publish.addAll(Arrays.asList("--download-policy", policy));
    command(publish.toArray(new String[0]));
  }

  private void startServer() throws IOException {
    ProcessBuilder pb = new ProcessBuilder(otaServer, "--repo", sub("repo"), "--port", "0",
        "--db", sub("server.db"), "--quiet");
    pb.redirectError(work.resolve("server.log").toFile());
    server = pb.start();
    // The server prints its URL on its first line (127.0.0.1, the port it got).
    BufferedReader out = new BufferedReader(
        new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
    String line = out.readLine();
    int at = line == null ? -1 : line.indexOf("http://");
    expect(at >= 0, "ota-server printed its URL: " + line);
    url = line.substring(at).trim();
    expect(url.startsWith("http://127.0.0.1:"), "the server listens on loopback only: " + url);
    Thread drain = new Thread(() -> drain(server.getInputStream()), "server-stdout");
    drain.setDaemon(true);
    drain.start();
  }

  private void stopServer() throws InterruptedException {
    if (server == null) return;
    server.destroy();
    server.waitFor();
  }

  private void printServerLog() {
    try {
      Path log = work.resolve("server.log");
      if (Files.exists(log)) {
        System.err.println("ota-server log:\n" + new String(Files.readAllBytes(log),
            StandardCharsets.UTF_8));
      }
    } catch (IOException ignored) {
      // The failure itself is already reported.
    }
  }

  private static void drain(InputStream in) {
    byte[] buf = new byte[4096];
    try {
      while (in.read(buf) >= 0) {
        // Discarded: the server's output after its URL.
      }
    } catch (IOException ignored) {
      // The server stopped.
    }
  }

  // Runs a program to its end; its stdout, or an AssertionError with all it printed.
  private String command(String... argv) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(argv);
    pb.redirectError(ProcessBuilder.Redirect.PIPE);
    Process p = pb.start();
    p.getOutputStream().close();
    byte[][] err = new byte[1][];
    Thread stderr = new Thread(() -> {
      try {
        err[0] = p.getErrorStream().readAllBytes();
      } catch (IOException e) {
        err[0] = e.toString().getBytes(StandardCharsets.UTF_8);
      }
    });
    stderr.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    int exit = p.waitFor();
    stderr.join();
    if (exit != 0) {
      throw new AssertionError(String.join(" ", argv) + " exited " + exit + ":\n" + out
          + new String(err[0], StandardCharsets.UTF_8));
    }
    return out;
  }

  private static void deleteTree(Path root) throws IOException {
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path p : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
        Files.delete(p);
      }
    }
  }

  // ---- expectations

  // Whether the outcomes JSON (an array, last entry the cycle's own) ends with `outcome`.
  private static boolean outcome(String json, String outcome) {
    int last = json.lastIndexOf("\"outcome\":");
    return last >= 0 && json.startsWith("\"outcome\":\"" + outcome + "\"", last);
  }

  // The number after the last `"key":` of a JSON text; -1 when there is none.
  private static long lastNumber(String json, String key) {
    int at = json.lastIndexOf("\"" + key + "\":");
    if (at < 0) return -1;
    int from = at + key.length() + 3;
    int to = from;
    while (to < json.length() && Character.isDigit(json.charAt(to))) ++to;
    return to == from ? -1 : Long.parseLong(json.substring(from, to));
  }

  private static void expect(boolean condition, String what) {
    if (!condition) throw new AssertionError(what);
  }

  private static void expectEquals(Object expected, Object actual, String what) {
    if (expected == null ? actual != null : !expected.equals(actual)) {
      throw new AssertionError(what + ": expected <" + expected + "> but was <" + actual + ">");
    }
  }

  interface Call {
    void run() throws Exception;
  }

  private static <T extends Throwable> T expectThrows(Class<T> type, Call call) {
    try {
      call.run();
    } catch (Throwable t) {
      if (type.isInstance(t)) return type.cast(t);
      throw new AssertionError("expected " + type.getSimpleName() + ", got " + t, t);
    }
    throw new AssertionError("expected " + type.getSimpleName() + ", nothing was thrown");
  }
}
