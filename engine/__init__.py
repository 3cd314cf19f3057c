"""The real-engine tier: the Pulumi CLI, its kubernetes provider and a Kubernetes control plane with
simulated nodes, built from Go modules, driving the platform's real `pulumi preview/up/destroy`."""
