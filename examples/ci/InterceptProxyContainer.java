// Testcontainers (Java): the image as a GenericContainer, ready when the control API answers /v1/ready.
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.utility.DockerImageName;

public final class InterceptProxyContainer extends GenericContainer<InterceptProxyContainer> {
    public InterceptProxyContainer() {
        super(DockerImageName.parse("localhost/intercept-proxy:dev"));
        withExposedPorts(8080, 8081);
        withCommand("run", "--listen-host", "0.0.0.0", "--port", "8080", "--admin", "0.0.0.0:8081");
        waitingFor(Wait.forHttp("/v1/ready").forPort(8081).forStatusCode(200));
    }

    /** HTTPS_PROXY for the code under test. */
    public String proxyUrl() { return "http://" + getHost() + ":" + getMappedPort(8080); }

    /** The control API: GET /v1/ca.pem, GET /v1/flows?since=N&wait=S, POST /v1/reset, PUT /v1/failures. */
    public String adminUrl() { return "http://" + getHost() + ":" + getMappedPort(8081); }
}
