import com.modelota.Config;
import com.modelota.Lease;
import com.modelota.ModelPolicy;
import com.modelota.Updater;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;

/**
 * A JVM program using the installed Java binding, as an app outside the tree would: compiled
 * against the installed modelota.jar and run with the installed libmodelota_jni.so
 * (tests/package/package_test.sh).
 *
 * <p>Usage: JavaConsumer STATE URL ROOT TOKEN_FILE ID VERSION. Enrolls the new state folder STATE
 * with the server at URL, checks, installs chat VERSION (bundle ID) in process with progress
 * reported, and leases it. Exit 0 on success; each failed check prints one line.
 */
public final class JavaConsumer {
  private static int failures = 0;

  private JavaConsumer() {}

  private static void check(boolean condition, String what) {
    if (!condition) {
      System.err.println("java consumer: check failed: " + what);
      ++failures;
    }
  }

  private static boolean startsWith(String path, String magic) throws IOException {
    byte[] head = new byte[magic.length()];
    try (InputStream in = Files.newInputStream(Paths.get(path))) {
      return in.read(head) == head.length
          && new String(head, StandardCharsets.US_ASCII).equals(magic);
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 6) {
      System.err.println("usage: JavaConsumer STATE URL ROOT TOKEN_FILE ID VERSION");
      System.exit(2);
    }
    String id = args[4];
    String version = args[5];
    Config config = new Config(args[0]);
    config.serverUrl = args[1];
    config.trustedRootFile = args[2];
    config.models = new String[] {"chat"};
    config.enrollmentToken =
        new String(Files.readAllBytes(Paths.get(args[3])), StandardCharsets.UTF_8).trim();
    try (Updater updater = Updater.open(config)) {
      String checked = updater.check();
      System.out.println("java consumer: check: " + checked);
      check(checked.contains("\"update_available\":true"), "check offers an update: " + checked);

      long[] progress = {0, 0};
      String outcomes = updater.update((model, done, total) -> {
        progress[0] = done;
        progress[1] = total;
      });
      System.out.println("java consumer: in-process update: " + outcomes);
      check(outcomes.contains("\"updated\""), "the update installs a version: " + outcomes);
      check(progress[1] > 0 && progress[0] == progress[1],
          "progress reaches the total: " + Arrays.toString(progress));

      try (Lease lease = updater.getModel("chat", ModelPolicy.LOCAL_ONLY)) {
        check(lease.version().equals(version), "lease version " + lease.version());
        check(lease.versionId().equals(id), "lease version id " + lease.versionId());
        check(startsWith(lease.modelPath(), "GGUF"), "a GGUF model: " + lease.modelPath());
        check(lease.findFile("prompts/chat.txt") != null, "the bundle's prompt file");
      }
    }
    if (failures != 0) {
      System.exit(1);
    }
    System.out.println("java consumer: chat " + version + " installed in process");
  }
}
