package com.modelota;

/**
 * A lease of a model's active version, from {@link Updater#getModel}: its files are neither
 * switched nor removed until {@link #close}. Close it when the session ends (try-with-resources),
 * after reporting the session with {@link Updater#reportSession}. The accessors are copies taken
 * when the lease was made and stay readable after close; {@link #findFile} needs the lease open.
 * Thread-safe. Closing twice is harmless; {@link Updater#close} closes the leases still open.
 */
public final class Lease implements AutoCloseable {
  private final Updater updater;
  private long handle; // ota_lease*; 0 once released. Guarded by this.
  private final String model;
  private final String version;
  private final String versionId;
  private final String dir;
  private final String modelPath;

  Lease(Updater updater, long handle) {
    this.updater = updater;
    this.handle = handle;
    String[] fields;
    try {
      fields = nativeStrings(handle);
    } catch (RuntimeException | Error e) {
      nativeRelease(handle);
      throw e;
    }
    model = fields[0];
    version = fields[1];
    versionId = fields[2];
    dir = fields[3];
    modelPath = fields[4];
  }

  /** The model's name, e.g. "chat". */
  public String model() {
    return model;
  }

  /** The version, e.g. "1.1.0". */
  public String version() {
    return version;
  }

  /** The version id (the bundle's SHA-256), for {@link Updater#reportSession}. */
  public String versionId() {
    return versionId;
  }

  /** The version's folder. */
  public String dir() {
    return dir;
  }

  /** The model file (what the runtime loads). */
  public String modelPath() {
    return modelPath;
  }

  /**
   * The absolute path of the bundle file listed as {@code relativePath} (e.g. {@code
   * "prompts/chat.txt"}), or null when the bundle has no such file.
   *
   * @throws IllegalStateException after {@link #close}
   */
  public synchronized String findFile(String relativePath) {
    if (relativePath == null) throw new NullPointerException("relativePath must not be null");
    if (handle == 0) throw new IllegalStateException("the lease is closed");
    return nativeFindFile(handle, relativePath);
  }

  /** Ends the lease: the agent may switch or remove the version from now on. */
  @Override
  public void close() {
    if (releaseNative()) updater.forget(this);
  }

  /** Releases the native lease; false when it was released before. */
  synchronized boolean releaseNative() {
    if (handle == 0) return false;
    nativeRelease(handle);
    handle = 0;
    return true;
  }

  private static native String[] nativeStrings(long lease);

  private static native String nativeFindFile(long lease, String relativePath);

  private static native void nativeRelease(long lease);
}
