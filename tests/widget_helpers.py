"""Driving the widget over HTTP in tests."""


class Widget:
    """One visitor's browser: opens the widget, keeps the token, calls the API."""

    def __init__(self, client, interface, origin=None):
        self.client = client
        self.key = interface.public_key
        self.origin = origin
        self.token = None
        self.conversation_id = None

    def headers(self):
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.origin:
            headers["Origin"] = self.origin
        return headers

    def open(self):
        response = self.client.post(f"/api/widget/{self.key}/sessions", headers=self.headers())
        assert response.status_code == 201, response.get_json()
        body = response.get_json()
        self.token = body["visitor_token"]
        self.conversation_id = body["conversation"]["id"]
        return body

    def url(self, suffix=""):
        return f"/api/widget/{self.key}/conversations/{self.conversation_id}{suffix}"

    def send(self, text, client_id):
        return self.client.post(self.url("/messages"), json={"text": text, "client_id": client_id},
                                headers=self.headers())

    def messages(self, **query):
        return self.client.get(self.url("/messages"), query_string=query, headers=self.headers())

    def ticket(self):
        response = self.client.post(f"/api/widget/{self.key}/sockets/ticket", headers=self.headers())
        assert response.status_code == 201, response.get_json()
        return response.get_json()["ticket"]
