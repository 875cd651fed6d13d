from ninja import NinjaAPI

api = NinjaAPI(title="Fidelo API", version="1", urls_namespace="api-v1")
