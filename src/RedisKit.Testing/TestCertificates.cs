using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace RedisKit.Testing;

/// <summary>
/// A private CA and a server certificate for 127.0.0.1 / localhost signed by it, written as PEM files in a
/// temp folder, for running <c>redis-server</c> with TLS in tests (<c>rediss://</c> plus
/// <c>RedisKit:TlsCaCertificatePath</c>). Valid from a day ago to a day ahead. Dispose deletes the folder.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private TestCertificates(string directory, string caPath, string certificatePath, string keyPath)
    {
        Directory = directory;
        CaPath = caPath;
        CertificatePath = certificatePath;
        KeyPath = keyPath;
    }

    /// <summary>The folder that holds the PEM files.</summary>
    public string Directory { get; }

    /// <summary>The CA certificate (PEM): what a client must trust.</summary>
    public string CaPath { get; }

    /// <summary>The server certificate (PEM), for <c>--tls-cert-file</c>.</summary>
    public string CertificatePath { get; }

    /// <summary>The server's private key (PKCS#8 PEM), for <c>--tls-key-file</c>.</summary>
    public string KeyPath { get; }

    /// <summary>Creates the CA and the server certificate (two RSA 2048 keys; takes well under a second).</summary>
    public static TestCertificates Create()
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("rediskit-tls-").FullName;
        var now = DateTimeOffset.UtcNow;
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=RedisKit Test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));

        using var serverKey = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = request.Create(ca, now.AddDays(-1), now.AddDays(1), RandomNumberGenerator.GetBytes(8));

        var caPath = Path.Combine(directory, "ca.pem");
        var certificatePath = Path.Combine(directory, "server.pem");
        var keyPath = Path.Combine(directory, "server.key");
        File.WriteAllText(caPath, ca.ExportCertificatePem());
        File.WriteAllText(certificatePath, server.ExportCertificatePem());
        File.WriteAllText(keyPath, serverKey.ExportPkcs8PrivateKeyPem());
        return new TestCertificates(directory, caPath, certificatePath, keyPath);
    }

    /// <summary>The <c>redis-server</c> arguments that open a TLS port with these files (clients need no certificate).</summary>
    public IReadOnlyList<string> RedisServerArguments(int tlsPort) =>
    [
        "--tls-port", tlsPort.ToString(CultureInfo.InvariantCulture),
        "--tls-cert-file", CertificatePath,
        "--tls-key-file", KeyPath,
        "--tls-ca-cert-file", CaPath,
        "--tls-auth-clients", "no",
    ];

    /// <summary>Deletes the folder.</summary>
    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Already gone or briefly held: the OS temp cleaner removes it.
        }
    }
}
