package com.modelota;

/**
 * What {@link Updater#open} needs: the C API's {@code ota_updater_config} as plain fields, read
 * when {@code open} is called. Only {@link #stateDir} is always required; the enrollment fields
 * ({@link #serverUrl}, {@link #trustedRootFile}, {@link #models}, {@link #enrollmentToken}, {@link
 * #caBundleFile}) are read by the first open of a state folder only. Null means unset.
 *
 * <pre>{@code
 * Config config = new Config(new File(context.getFilesDir(), "modelota").getPath());
 * config.serverUrl = "https://ota.example.com";
 * config.trustedRootFile = rootJsonPath;
 * config.models = new String[] {"chat"};
 * config.enrollmentToken = token;
 * config.appVersion = "3.2.0";
 * }</pre>
 */
public final class Config {
  /** Required: a folder private to the app. */
  public String stateDir;

  /** The server to enroll with, e.g. {@code https://ota.example.com} (first open). */
  public String serverUrl;

  /** The root.json to trust first, e.g. copied out of the app's assets (first open). */
  public String trustedRootFile;

  /** The models this device follows (first open). */
  public String[] models;

  /** The fleet enrollment token, if the server wants one (first open). */
  public String enrollmentToken;

  /** PEM CA bundle for the server's TLS; null: the system's CAs (first open). */
  public String caBundleFile;

  /** The app's version, for rollout selectors and pins. */
  public String appVersion;

  /** What the app knows of the device, device-facts.json (docs/formats.md). */
  public String deviceFactsJson;

  /** The app's download policy (docs/formats.md "Download policy"); null: the defaults. */
  public String downloadPolicyJson;

  /** Sessions reported ok that commit a new version; -1: the default, 3. */
  public int confirmSessions = -1;

  /** The confirmation window in seconds; -1: the default, 600. */
  public long confirmWindowSeconds = -1;

  /**
   * The drain of the app's own sessions before a switch: "defer" or "switch-new-first"; null: the
   * default, "switch-new-first".
   */
  public String drainPolicy;

  /** How long the drain waits for sessions on the old version, in ms; -1: the default, 30000. */
  public long drainDeadlineMs = -1;

  /** A config for the state folder {@code stateDir}, every other field unset. */
  public Config(String stateDir) {
    this.stateDir = stateDir;
  }
}
