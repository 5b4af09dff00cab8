package com.modelota;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * What {@link Updater#open} needs: the C API's {@code ota_updater_config}, built with {@link
 * #builder}. Only the state folder is always required; the enrollment fields (server URL, trusted
 * root, models, token, CA bundle) are read by the first open of a state folder only. Immutable.
 *
 * <pre>{@code
 * Config config = Config.builder(new File(context.getFilesDir(), "modelota").getPath())
 *     .serverUrl("https://ota.example.com")
 *     .trustedRootFile(rootJsonPath)
 *     .models("chat")
 *     .enrollmentToken(token)
 *     .appVersion("3.2.0")
 *     .build();
 * }</pre>
 */
public final class Config {
  final String stateDir;
  final String serverUrl;
  final String trustedRootFile;
  final String[] models;
  final String enrollmentToken;
  final String caBundleFile;
  final String appVersion;
  final String deviceFactsJson;
  final String downloadPolicyJson;
  final int confirmSessions;
  final long confirmWindowSeconds;

  private Config(Builder b) {
    stateDir = b.stateDir;
    serverUrl = b.serverUrl;
    trustedRootFile = b.trustedRootFile;
    models = b.models.toArray(new String[0]);
    enrollmentToken = b.enrollmentToken;
    caBundleFile = b.caBundleFile;
    appVersion = b.appVersion;
    deviceFactsJson = b.deviceFactsJson;
    downloadPolicyJson = b.downloadPolicyJson;
    confirmSessions = b.confirmSessions;
    confirmWindowSeconds = b.confirmWindowSeconds;
  }

  /** A builder for the state folder {@code stateDir}: a folder private to the app. */
  public static Builder builder(String stateDir) {
    return new Builder(stateDir);
  }

  public String stateDir() {
    return stateDir;
  }

  public List<String> models() {
    return Collections.unmodifiableList(Arrays.asList(models));
  }

  /** Builds a {@link Config}; every setter but the state folder's is optional. */
  public static final class Builder {
    private final String stateDir;
    private String serverUrl;
    private String trustedRootFile;
    private final List<String> models = new ArrayList<>();
    private String enrollmentToken;
    private String caBundleFile;
    private String appVersion;
    private String deviceFactsJson;
    private String downloadPolicyJson;
    private int confirmSessions = -1;
    private long confirmWindowSeconds = -1;

    private Builder(String stateDir) {
      this.stateDir = Objects.requireNonNull(stateDir, "stateDir must not be null");
    }

    /** The server to enroll with, e.g. {@code https://ota.example.com} (first open). */
    public Builder serverUrl(String url) {
      serverUrl = url;
      return this;
    }

    /** The root.json to trust first, e.g. copied out of the app's assets (first open). */
    public Builder trustedRootFile(String path) {
      trustedRootFile = path;
      return this;
    }

    /** The models this device follows (first open); adds to those given before. */
    public Builder models(String... names) {
      for (String name : Objects.requireNonNull(names, "models must not be null")) {
        models.add(Objects.requireNonNull(name, "a model name must not be null"));
      }
      return this;
    }

    /** The fleet enrollment token, if the server wants one (first open). */
    public Builder enrollmentToken(String token) {
      enrollmentToken = token;
      return this;
    }

    /** PEM CA bundle for the server's TLS; unset: the system's CAs (first open). */
    public Builder caBundleFile(String path) {
      caBundleFile = path;
      return this;
    }

    /** The app's version, for rollout selectors and pins. */
    public Builder appVersion(String version) {
      appVersion = version;
      return this;
    }

    /** What the app knows of the device, device-facts.json (docs/formats.md). */
    public Builder deviceFactsJson(String json) {
      deviceFactsJson = json;
      return this;
    }

    /** The app's download policy (docs/formats.md "Download policy"); unset: the defaults. */
    public Builder downloadPolicyJson(String json) {
      downloadPolicyJson = json;
      return this;
    }

    /** Sessions reported ok that commit a new version; -1 (unset): the default, 3. */
    public Builder confirmSessions(int sessions) {
      confirmSessions = sessions;
      return this;
    }

    /** The confirmation window in seconds; -1 (unset): the default, 600. */
    public Builder confirmWindowSeconds(long seconds) {
      confirmWindowSeconds = seconds;
      return this;
    }

    public Config build() {
      return new Config(this);
    }
  }
}
